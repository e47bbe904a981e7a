//! Request and response envelope headers: decoding outside bytes into checked, typed values, and
//! signing and verifying requests over the canonical payload.

use crate::payload::{batch_payload, BodyHash, Nonce, RequestPayload, MAX_BATCH, MAX_SYNAPSE_NAME};
use crate::proto::{self, AuthMode, HotkeyBinding};
use crate::{CryptoType, Error, Hotkey, Keypair, Result, Signature, Status, VerifyingKey};
use prost::Message;

/// The largest encoded request or response header accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 4096;
/// The longest status message a response header carries, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// A request header after decoding and shape checks (the signature is checked separately).
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Synapse name: 1 to 128 bytes of ASCII letters, digits, `_`, `-`, `.` and `/`.
    pub synapse: String,
    /// The sender's hotkey.
    pub sender: Hotkey,
    /// The receiver's public key.
    pub receiver: [u8; 32],
    /// The nonce.
    pub nonce: Nonce,
    /// The sender's deadline in milliseconds.
    pub timeout_ms: u32,
    /// How the request is authenticated.
    pub auth: AuthMode,
    /// The signature (per-request mode).
    pub signature: Option<Signature>,
    /// The sender's binding, on a connection's first request.
    pub binding: Option<HotkeyBinding>,
    /// `(index, count)` when the request is part of a signature batch of `count` requests.
    pub batch: Option<(u32, u32)>,
}

/// Checks a synapse name's shape.
pub fn check_synapse_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_SYNAPSE_NAME {
        return Err(Error::Envelope(format!("synapse name of {} bytes (1 to {MAX_SYNAPSE_NAME})", name.len())));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')) {
        return Err(Error::Envelope("synapse name has characters outside [A-Za-z0-9_.-/]".into()));
    }
    Ok(())
}

impl RequestHead {
    /// A new unsigned header from `sender` to `receiver`, nonce now.
    pub fn new(synapse: &str, sender: Hotkey, receiver: [u8; 32], timeout_ms: u32) -> Self {
        RequestHead {
            synapse: synapse.to_owned(),
            sender,
            receiver,
            nonce: Nonce::now(),
            timeout_ms,
            auth: AuthMode::PerRequest,
            signature: None,
            binding: None,
            batch: None,
        }
    }

    /// The payload the signature covers for `body_hash`.
    pub fn payload<'a>(&'a self, body_hash: &'a BodyHash) -> RequestPayload<'a> {
        RequestPayload {
            synapse: &self.synapse,
            sender: &self.sender,
            receiver: &self.receiver,
            nonce: self.nonce,
            timeout_ms: self.timeout_ms,
            body_hash,
        }
    }

    /// Signs the header over `body` with `pair` (which must be the sender) and sets per-request mode.
    pub fn sign(&mut self, pair: &Keypair, body: &[u8]) {
        self.sender = pair.hotkey();
        self.auth = AuthMode::PerRequest;
        let hash = BodyHash::of(body);
        self.signature = Some(pair.sign(&self.payload(&hash).to_bytes()));
    }

    /// Verifies the per-request signature over `body`.
    pub fn verify(&self, body: &[u8]) -> Result<()> {
        self.verify_with(None, body)
    }

    /// Verifies the per-request signature over `body`, with `key` already decoded when it is the
    /// sender's (a connection's bound hotkey); otherwise decodes the sender's key.
    pub fn verify_with(&self, key: Option<&VerifyingKey>, body: &[u8]) -> Result<()> {
        let signature = self.signature.as_ref().ok_or_else(|| Error::BadSignature(self.sender.to_ss58()))?;
        let message = self.payload(&BodyHash::of(body)).to_bytes();
        verify_as(&self.sender, key, &message, signature)
    }

    /// Decodes and checks a header from outside bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(Error::Envelope(format!("header of {} bytes (max {MAX_HEADER_BYTES})", bytes.len())));
        }
        let raw = proto::RequestHeader::decode(bytes).map_err(|e| Error::Envelope(e.to_string()))?;
        Self::from_proto(raw)
    }

    /// Checks a decoded protobuf header.
    pub fn from_proto(raw: proto::RequestHeader) -> Result<Self> {
        check_synapse_name(&raw.synapse)?;
        let crypto = proto::CryptoType::try_from(raw.sender_crypto)
            .map_err(|_| Error::UnknownCryptoType(raw.sender_crypto.to_string()))?;
        let crypto = match crypto {
            proto::CryptoType::Ed25519 => CryptoType::Ed25519,
            proto::CryptoType::Sr25519 => CryptoType::Sr25519,
        };
        let sender = Hotkey::from_slice(crypto, &raw.sender)?;
        let receiver: [u8; 32] = raw
            .receiver
            .as_ref()
            .try_into()
            .map_err(|_| Error::Envelope(format!("receiver of {} bytes, expected 32", raw.receiver.len())))?;
        let auth =
            AuthMode::try_from(raw.auth).map_err(|_| Error::Envelope(format!("unknown auth mode {}", raw.auth)))?;
        let signature = match (auth, raw.signature.is_empty()) {
            (_, true) => None,
            (_, false) => Some(Signature::from_slice(&raw.signature)?),
        };
        let batch = match (raw.batch_count, raw.batch_index) {
            (0 | 1, 0) => None,
            (count, index) if count as usize <= MAX_BATCH && index < count => Some((index, count)),
            (count, index) => {
                return Err(Error::Envelope(format!("batch index {index} of {count} (at most {MAX_BATCH})")))
            }
        };
        let signed_here = match batch {
            Some((index, count)) => index + 1 == count,
            None => true,
        };
        if auth == AuthMode::PerRequest && signed_here && signature.is_none() {
            return Err(Error::Envelope("per-request mode without a signature".into()));
        }
        Ok(RequestHead {
            synapse: raw.synapse,
            sender,
            receiver,
            nonce: Nonce(raw.nonce),
            timeout_ms: raw.timeout_ms,
            auth,
            signature,
            binding: raw.binding,
            batch,
        })
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> proto::RequestHeader {
        proto::RequestHeader {
            synapse: self.synapse.clone(),
            sender: self.sender.public().to_vec().into(),
            sender_crypto: match self.sender.crypto() {
                CryptoType::Ed25519 => proto::CryptoType::Ed25519 as i32,
                CryptoType::Sr25519 => proto::CryptoType::Sr25519 as i32,
            },
            receiver: self.receiver.to_vec().into(),
            nonce: self.nonce.0,
            timeout_ms: self.timeout_ms,
            auth: self.auth as i32,
            signature: self.signature.map(|s| s.0.to_vec().into()).unwrap_or_default(),
            binding: self.binding.clone(),
            batch_count: self.batch.map(|(_, count)| count).unwrap_or(0),
            batch_index: self.batch.map(|(index, _)| index).unwrap_or(0),
        }
    }

    /// Encodes the header.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }
}

/// Signs `requests` (headers with their bodies, all from `pair`) with one batch signature:
/// each header gets its `(index, count)`, and the last one carries the signature over the
/// digests of all their payloads. One request gets a plain signature. More than
/// [`MAX_BATCH`] requests are signed as consecutive batches of at most that many.
pub fn sign_batch(pair: &Keypair, requests: &mut [(&mut RequestHead, &[u8])]) {
    if requests.len() > MAX_BATCH {
        for chunk in requests.chunks_mut(MAX_BATCH) {
            sign_batch(pair, chunk);
        }
        return;
    }
    let count = requests.len();
    if count <= 1 {
        if let Some((head, body)) = requests.first_mut() {
            head.sign(pair, body);
        }
        return;
    }
    let mut digests = Vec::with_capacity(count);
    for (index, (head, body)) in requests.iter_mut().enumerate() {
        head.sender = pair.hotkey();
        head.auth = AuthMode::PerRequest;
        head.signature = None;
        head.batch = Some((index as u32, count as u32));
        let hash = BodyHash::of(body);
        digests.push(head.payload(&hash).digest());
    }
    let signature = pair.sign(&batch_payload(&digests));
    if let Some((head, _)) = requests.last_mut() {
        head.signature = Some(signature);
    }
}

/// Verifies a complete batch: `requests` in stream order, with consecutive indices from 0 to
/// count - 1, one sender, and the last carrying the signature over all their payload digests.
pub fn verify_batch(requests: &[(&RequestHead, &[u8])]) -> Result<()> {
    verify_batch_with(None, requests)
}

/// [`verify_batch`], with `key` already decoded when it is the sender's (a connection's bound
/// hotkey); otherwise decodes the sender's key.
pub fn verify_batch_with(key: Option<&VerifyingKey>, requests: &[(&RequestHead, &[u8])]) -> Result<()> {
    let (last, _) = requests.last().ok_or_else(|| Error::Envelope("empty batch".into()))?;
    let count = requests.len();
    if count > MAX_BATCH {
        return Err(Error::Envelope(format!("batch of {count} requests (at most {MAX_BATCH})")));
    }
    let mut digests = Vec::with_capacity(count);
    for (index, (head, body)) in requests.iter().enumerate() {
        if head.batch != Some((index as u32, count as u32))
            || head.sender != last.sender
            || head.auth != AuthMode::PerRequest
        {
            return Err(Error::Envelope("requests do not form one batch".into()));
        }
        let hash = BodyHash::of(body);
        digests.push(head.payload(&hash).digest());
    }
    let signature = last.signature.as_ref().ok_or_else(|| Error::BadSignature(last.sender.to_ss58()))?;
    verify_as(&last.sender, key, &batch_payload(&digests), signature)
}

/// Verifies `signature` by `sender`, with `key` when it is the sender's already-decoded key.
fn verify_as(sender: &Hotkey, key: Option<&VerifyingKey>, message: &[u8], signature: &Signature) -> Result<()> {
    match key.filter(|key| key.hotkey() == *sender) {
        Some(key) => key.verify(message, signature),
        None => sender.verify(message, signature),
    }
}

/// A response header after decoding.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status.
    pub status: Status,
    /// The axon's message.
    pub message: String,
    /// Microseconds the axon spent.
    pub process_time_us: u64,
    /// The axon's binding, answering a request that carried one.
    pub binding: Option<HotkeyBinding>,
}

impl ResponseHead {
    /// A header with `status` and its standard message.
    pub fn new(status: Status) -> Self {
        ResponseHead { status, message: status.message().to_owned(), process_time_us: 0, binding: None }
    }

    /// A header with `status` and `message`.
    pub fn with_message(status: Status, message: impl Into<String>) -> Self {
        ResponseHead { status, message: message.into(), process_time_us: 0, binding: None }
    }

    /// Decodes a header from outside bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(Error::Envelope(format!("header of {} bytes (max {MAX_HEADER_BYTES})", bytes.len())));
        }
        let raw = proto::ResponseHeader::decode(bytes).map_err(|e| Error::Envelope(e.to_string()))?;
        Ok(ResponseHead {
            status: Status::from_code(raw.status),
            message: raw.message,
            process_time_us: raw.process_time_us,
            binding: raw.binding,
        })
    }

    /// Encodes the header. Messages longer than [`MAX_MESSAGE_BYTES`] are cut (on a character
    /// boundary) so that the header always fits its frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut cut = self.message.len().min(MAX_MESSAGE_BYTES);
        while !self.message.is_char_boundary(cut) {
            cut -= 1;
        }
        proto::ResponseHeader {
            status: u32::from(self.status.code()),
            message: self.message[..cut].to_owned(),
            process_time_us: self.process_time_us,
            binding: self.binding.clone(),
        }
        .encode_to_vec()
    }
}
