//! btcli keyfiles: the JSON a hotkey or coldkey file holds, and the NaCl encryption of coldkeys
//! (`$NACL` + 24-byte nonce + XSalsa20-Poly1305 secretbox, key from argon2i v1.3 with libsodium's
//! SENSITIVE limits and Bittensor's fixed salt).

use crate::{CryptoType, Error, Hotkey, Keypair, Result};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// The prefix of a NaCl-encrypted keyfile.
pub const NACL_PREFIX: &[u8] = b"$NACL";
/// The fixed argon2 salt Bittensor wallets use.
pub const NACL_SALT: [u8; 16] =
    [0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1];
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
pub const ARGON2_OPSLIMIT_SENSITIVE: u32 = 8;
/// libsodium `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE`, in bytes (512 MiB).
pub const ARGON2_MEMLIMIT_SENSITIVE: u32 = 536_870_912;
const NONCE_LEN: usize = 24;

/// The JSON of a keyfile, as btcli and `bittensor-wallet` write it. Every field is optional on
/// read; which are present decides how the key is restored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyfileJson {
    /// `0x` + 32-byte account id (the public key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `0x` + 32-byte public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// `0x` + private key (64 bytes for sr25519, 32 for ed25519).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// The BIP-39 phrase, when the key came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_phrase: Option<String>,
    /// `0x` + 32-byte seed, when the key came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_seed: Option<String>,
    /// The SS58 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ss58_address: Option<String>,
    /// 1 = sr25519, 0 = ed25519 (also read as a string); absent means sr25519.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crypto_type: Option<serde_json::Value>,
}

impl KeyfileJson {
    /// The full secret keyfile of a keypair.
    pub fn from_keypair(pair: &Keypair) -> Self {
        let mut json = Self::public_only(&pair.hotkey());
        json.private_key = Some(format!("0x{}", hex::encode(&*pair.private_key())));
        json.secret_seed = pair.seed().map(|seed| format!("0x{}", hex::encode(seed)));
        json.secret_phrase = pair.phrase().map(str::to_owned);
        json
    }

    /// The public keyfile (`coldkeypub.txt`, `<hotkey>pub.txt`) of a hotkey.
    pub fn public_only(hotkey: &Hotkey) -> Self {
        let public = format!("0x{}", hex::encode(hotkey.public()));
        KeyfileJson {
            account_id: Some(public.clone()),
            public_key: Some(public),
            ss58_address: Some(hotkey.to_ss58()),
            crypto_type: Some(serde_json::Value::from(hotkey.crypto().code())),
            ..Default::default()
        }
    }

    /// Parses keyfile bytes; `path` only labels errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| keyfile_error(path, format!("not keyfile JSON: {e}")))
    }

    /// The declared scheme (sr25519 when absent).
    pub fn crypto(&self) -> Result<CryptoType> {
        match &self.crypto_type {
            None | Some(serde_json::Value::Null) => Ok(CryptoType::Sr25519),
            Some(serde_json::Value::Number(n)) => {
                CryptoType::from_code(n.as_u64().ok_or_else(|| Error::UnknownCryptoType(n.to_string()))?)
            }
            Some(serde_json::Value::String(s)) => s.parse(),
            Some(other) => Err(Error::UnknownCryptoType(other.to_string())),
        }
    }

    /// Restores the keypair: from the seed when present, else the phrase, else the private key.
    /// A declared public key or address that disagrees with the secret is an error.
    pub fn keypair(&self, path: &Path) -> Result<Keypair> {
        let crypto = self.crypto()?;
        let pair = if let Some(seed) = &self.secret_seed {
            let bytes = Zeroizing::new(decode_hex(seed, path, "secretSeed")?);
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| keyfile_error(path, format!("secretSeed has {} bytes, expected 32", bytes.len())))?;
            let pair = Keypair::from_seed(&seed, crypto);
            pair.with_phrase(self.secret_phrase.clone())
        } else if let Some(phrase) = &self.secret_phrase {
            Keypair::from_phrase(phrase, None, crypto)?
        } else if let Some(private) = &self.private_key {
            let bytes = Zeroizing::new(decode_hex(private, path, "privateKey")?);
            Keypair::from_private_key(&bytes, crypto)?
        } else {
            return Err(keyfile_error(path, "no secretSeed, secretPhrase or privateKey".into()));
        };
        self.check_public(&pair.hotkey(), path)?;
        Ok(pair)
    }

    /// The public identity the file declares (`publicKey`, else `accountId`, else `ss58Address`).
    pub fn hotkey(&self, path: &Path) -> Result<Hotkey> {
        let crypto = self.crypto()?;
        if let Some(public) = self.public_key.as_ref().or(self.account_id.as_ref()) {
            let bytes = decode_hex(public, path, "publicKey")?;
            let hotkey = Hotkey::from_slice(crypto, &bytes)?;
            self.check_public(&hotkey, path)?;
            Ok(hotkey)
        } else if let Some(address) = &self.ss58_address {
            Hotkey::from_ss58(address, crypto)
        } else {
            Err(keyfile_error(path, "no publicKey, accountId or ss58Address".into()))
        }
    }

    fn check_public(&self, hotkey: &Hotkey, path: &Path) -> Result<()> {
        for (field, value) in [("publicKey", &self.public_key), ("accountId", &self.account_id)] {
            if let Some(value) = value {
                if decode_hex(value, path, field)? != hotkey.public() {
                    return Err(keyfile_error(path, format!("{field} does not match the secret key")));
                }
            }
        }
        if let Some(address) = &self.ss58_address {
            if *address != hotkey.to_ss58() {
                return Err(keyfile_error(path, format!("ss58Address {address} does not match the key")));
            }
        }
        Ok(())
    }

    /// Serialises as compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and a JSON value cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn decode_hex(text: &str, path: &Path, field: &str) -> Result<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|e| keyfile_error(path, format!("{field} is not hex: {e}")))
}

fn keyfile_error(path: &Path, reason: String) -> Error {
    Error::Keyfile { path: path.to_owned(), reason }
}

/// How a keyfile's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Plain JSON.
    None,
    /// `$NACL`: neuronet reads and writes it.
    Nacl,
    /// Ansible vault (very old btcli): not read.
    AnsibleVault,
    /// Fernet (legacy btcli): not read.
    Fernet,
}

/// Detects the storage format of keyfile bytes.
pub fn detect_encryption(bytes: &[u8]) -> Encryption {
    if bytes.starts_with(NACL_PREFIX) {
        Encryption::Nacl
    } else if bytes.starts_with(b"$ANSIBLE_VAULT") {
        Encryption::AnsibleVault
    } else if bytes.starts_with(b"gAAAAA") {
        Encryption::Fernet
    } else {
        Encryption::None
    }
}

fn derive_key(password: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(ARGON2_MEMLIMIT_SENSITIVE / 1024, ARGON2_OPSLIMIT_SENSITIVE, 1, Some(32))
        .map_err(|e| Error::Keyfile { path: Default::default(), reason: format!("argon2 parameters: {e}") })?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, &NACL_SALT, key.as_mut())
        .map_err(|e| Error::Keyfile { path: Default::default(), reason: format!("argon2: {e}") })?;
    Ok(key)
}

/// Encrypts keyfile bytes as btcli does: `$NACL` + nonce + secretbox(argon2i(password), data).
pub fn encrypt(data: &[u8], password: &str) -> Result<Vec<u8>> {
    let key = derive_key(password.as_bytes())?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(&nonce.into(), data)
        .map_err(|_| Error::Keyfile { path: Default::default(), reason: "encryption failed".into() })?;
    let mut out = Vec::with_capacity(NACL_PREFIX.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(NACL_PREFIX);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `$NACL` keyfile bytes; a wrong password is [`Error::WrongPassword`].
pub fn decrypt(data: &[u8], password: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let rest = data.strip_prefix(NACL_PREFIX).ok_or_else(|| keyfile_error(path, "not NaCl-encrypted".into()))?;
    if rest.len() < NONCE_LEN + 16 {
        return Err(keyfile_error(path, format!("encrypted keyfile too short ({} bytes)", data.len())));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let key = derive_key(password.as_bytes())?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| keyfile_error(path, "bad nonce".into()))?;
    cipher
        .decrypt(&nonce.into(), sealed)
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassword { path: path.to_owned() })
}
