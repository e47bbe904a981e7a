//! Accounts as the chain names them: 32 bytes, shown as SS58 addresses (prefix 42).

use neuronet_synapse::{ss58, CryptoType, Hotkey};
use parity_scale_codec::{Decode, Encode};

/// A chain account (`AccountId32`): a hotkey or a coldkey's public key. The chain does not say
/// which signature scheme an account uses; Bittensor's keys are sr25519 unless a wallet says
/// otherwise, which is what [`AccountId::hotkey`] assumes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The account's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The account as an SS58 address with Bittensor's prefix 42.
    pub fn to_ss58(&self) -> String {
        ss58::encode(&self.0)
    }

    /// An account from an SS58 address with prefix 42.
    pub fn from_ss58(address: &str) -> Result<Self, neuronet_synapse::Error> {
        ss58::decode(address).map(AccountId)
    }

    /// The account as an sr25519 hotkey (what a Bittensor hotkey is unless its wallet says
    /// otherwise).
    pub fn hotkey(&self) -> Hotkey {
        Hotkey::new(CryptoType::Sr25519, self.0)
    }
}

impl From<Hotkey> for AccountId {
    fn from(hotkey: Hotkey) -> Self {
        AccountId(*hotkey.public())
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl std::fmt::Debug for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

impl std::str::FromStr for AccountId {
    type Err = neuronet_synapse::Error;
    fn from_str(address: &str) -> Result<Self, Self::Err> {
        Self::from_ss58(address)
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ss58())
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_ss58(&text).map_err(serde::de::Error::custom)
    }
}
