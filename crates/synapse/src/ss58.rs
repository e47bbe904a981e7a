//! SS58 addresses (Substrate's base58 account format) for Bittensor's network prefix 42.

use crate::{Error, Result};
use blake2::{Blake2b512, Digest};

/// The SS58 network prefix of every Bittensor account ("substrate generic").
pub const BITTENSOR_SS58_PREFIX: u16 = 42;

const CHECKSUM_PREFIX: &[u8] = b"SS58PRE";

fn checksum(data: &[u8]) -> [u8; 2] {
    let mut hasher = Blake2b512::new();
    hasher.update(CHECKSUM_PREFIX);
    hasher.update(data);
    let digest = hasher.finalize();
    [digest[0], digest[1]]
}

/// Encodes a 32-byte public key as an SS58 address with prefix 42.
///
/// ```
/// let alice = [0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9,
///     0x9f, 0xd6, 0x82, 0x2c, 0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7, 0xa5, 0x6d,
///     0xa2, 0x7d];
/// assert_eq!(neuronet_synapse::ss58::encode(&alice), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
/// ```
pub fn encode(public: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(35);
    data.push(BITTENSOR_SS58_PREFIX as u8);
    data.extend_from_slice(public);
    let sum = checksum(&data);
    data.extend_from_slice(&sum);
    bs58::encode(data).into_string()
}

/// Decodes an SS58 address with prefix 42 into its 32-byte public key.
///
/// Bad base58, a wrong length, a bad checksum and another network's prefix are distinct errors.
pub fn decode(address: &str) -> Result<[u8; 32]> {
    let data = bs58::decode(address).into_vec().map_err(|_| Error::Ss58NotBase58(address.to_owned()))?;
    let (prefix, prefix_len) = match data.first() {
        Some(&b) if b < 64 => (u16::from(b), 1),
        Some(&b) if b < 128 => {
            let second = *data.get(1).ok_or_else(|| bad_length(address, data.len()))?;
            // Two-byte prefixes pack 14 bits as in the SS58 specification.
            let lower = (b << 2) | (second >> 6);
            let upper = second & 0b0011_1111;
            (u16::from(lower) | (u16::from(upper) << 8), 2)
        }
        _ => return Err(bad_length(address, data.len())),
    };
    if data.len() != prefix_len + 32 + 2 {
        return Err(bad_length(address, data.len()));
    }
    let (body, sum) = data.split_at(prefix_len + 32);
    if checksum(body) != sum {
        return Err(Error::Ss58BadChecksum(address.to_owned()));
    }
    if prefix != BITTENSOR_SS58_PREFIX {
        return Err(Error::Ss58WrongPrefix { address: address.to_owned(), prefix });
    }
    let mut public = [0u8; 32];
    public.copy_from_slice(&body[prefix_len..]);
    Ok(public)
}

fn bad_length(address: &str, len: usize) -> Error {
    Error::Ss58BadLength { address: address.to_owned(), len }
}
