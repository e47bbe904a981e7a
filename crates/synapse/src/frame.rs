//! Frames on a neuronet QUIC stream. Each frame is a fixed 15-byte prefix, a header and a body:
//!
//! ```text
//! kind u8 | request_id u64 BE | header_len u16 BE | body_len u32 BE | header | body
//! ```
//!
//! The prefix alone tells a reader how much follows, so an over-limit body can be refused (and
//! skipped) without buffering it.

use crate::envelope::MAX_HEADER_BYTES;

/// Bytes in a frame prefix.
pub const PREFIX_LEN: usize = 15;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Dendrite -> axon: a `RequestHeader` and the request body.
    Request = 1,
    /// Axon -> dendrite: a `ResponseHeader` and the response body; ends the request.
    Response = 2,
    /// Axon -> dendrite: one chunk of a streaming response (empty header, body = chunk message).
    Chunk = 3,
    /// Either way, the first frame of every stream: a `HotkeyBinding` header, no body.
    Bind = 4,
    /// Dendrite -> axon: the caller gave up on `request_id`; no header, no body.
    Cancel = 5,
}

impl FrameKind {
    /// The kind for a byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(FrameKind::Request),
            2 => Some(FrameKind::Response),
            3 => Some(FrameKind::Chunk),
            4 => Some(FrameKind::Bind),
            5 => Some(FrameKind::Cancel),
            _ => None,
        }
    }
}

/// A parsed frame prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePrefix {
    /// What the frame carries.
    pub kind: FrameKind,
    /// Correlates a request with its response and chunks; chosen by the dendrite.
    pub request_id: u64,
    /// Header bytes that follow the prefix.
    pub header_len: u16,
    /// Body bytes that follow the header.
    pub body_len: u32,
}

/// A prefix that cannot start a valid frame; the stream is not resynchronisable after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Unknown kind byte.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A header longer than any valid header.
    #[error("frame header of {0} bytes exceeds {MAX_HEADER_BYTES}")]
    HeaderTooLarge(u16),
}

impl FramePrefix {
    /// Parses a prefix from outside bytes.
    pub fn parse(bytes: &[u8; PREFIX_LEN]) -> Result<Self, FrameError> {
        let kind = FrameKind::from_byte(bytes[0]).ok_or(FrameError::UnknownKind(bytes[0]))?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[1..9]);
        let header_len = u16::from_be_bytes([bytes[9], bytes[10]]);
        let body_len = u32::from_be_bytes([bytes[11], bytes[12], bytes[13], bytes[14]]);
        if usize::from(header_len) > MAX_HEADER_BYTES {
            return Err(FrameError::HeaderTooLarge(header_len));
        }
        Ok(FramePrefix { kind, request_id: u64::from_be_bytes(id), header_len, body_len })
    }

    /// The prefix bytes.
    pub fn to_bytes(&self) -> [u8; PREFIX_LEN] {
        let mut out = [0u8; PREFIX_LEN];
        out[0] = self.kind as u8;
        out[1..9].copy_from_slice(&self.request_id.to_be_bytes());
        out[9..11].copy_from_slice(&self.header_len.to_be_bytes());
        out[11..15].copy_from_slice(&self.body_len.to_be_bytes());
        out
    }
}

/// Encodes the prefix and header of a frame into one buffer (the body is written after it as is,
/// so large bodies are never copied). Headers longer than [`MAX_HEADER_BYTES`] are a caller bug
/// and are cut, which the peer then refuses.
pub fn encode_head(kind: FrameKind, request_id: u64, header: &[u8], body_len: usize) -> Vec<u8> {
    let header = &header[..header.len().min(MAX_HEADER_BYTES)];
    let prefix = FramePrefix {
        kind,
        request_id,
        header_len: header.len() as u16,
        body_len: u32::try_from(body_len).unwrap_or(u32::MAX),
    };
    let mut out = Vec::with_capacity(PREFIX_LEN + header.len());
    out.extend_from_slice(&prefix.to_bytes());
    out.extend_from_slice(header);
    out
}
