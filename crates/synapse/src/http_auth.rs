//! Hotkey-signed HTTP requests as the Python ecosystem sends them: btauth/1 (bittensor 11's
//! `bittensor.http_auth`) and Epistula v2 (Targon, Apex, BitMind and others). Both signing and
//! verification, as pure functions: a wire adapter hands over the method, target, body and a
//! header lookup, and gets back who signed and the nonce its replay cache must see once.
//!
//! Verification follows btauth/1's order for both schemes, cheapest first: header shape, receiver
//! binding (required: a request for another axon is refused), freshness, then the signature under
//! the declared scheme only. Replay is the caller's last step, with the nonce returned here, after
//! the signature verified, so that forged requests cannot fill the replay cache. Error messages
//! never echo a signature.
//!
//! ```
//! use neuronet_synapse::http_auth::{sign_btauth, verify_btauth, Window};
//! use neuronet_synapse::{CryptoType, Keypair};
//! let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
//! let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519)?.hotkey();
//! let now = 1_700_000_000_000_000_000;
//! let headers = sign_btauth(&alice, "POST", "/Ping", b"{}", Some(&bob), now);
//! let caller = verify_btauth("POST", "/Ping", b"{}", &headers[..], &bob, now, Window::default()).unwrap();
//! assert_eq!(caller.hotkey, alice.hotkey());
//! # Ok::<(), neuronet_synapse::Error>(())
//! ```

use crate::payload::{BtauthRequest, Nonce};
use crate::{CryptoType, Failure, Hotkey, Keypair, Signature, Status};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A request's headers, looked up by name (case-insensitively, as HTTP names are).
pub trait Headers {
    /// The value of header `name`, when present and text.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for [(&str, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Headers for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// btauth/1's header names (matched case-insensitively by the lookup).
pub mod btauth_headers {
    /// `1`.
    pub const VERSION: &str = "X-Bittensor-Version";
    /// The sender's SS58.
    pub const HOTKEY: &str = "X-Bittensor-Hotkey";
    /// The receiver's SS58.
    pub const RECEIVER: &str = "X-Bittensor-Receiver";
    /// Decimal nanoseconds since the Unix epoch.
    pub const NONCE: &str = "X-Bittensor-Nonce";
    /// `sr25519` (the default when absent) or `ed25519` (also `1` / `0`).
    pub const CRYPTO: &str = "X-Bittensor-Crypto";
    /// `0x` + hex of the 64-byte signature.
    pub const SIGNATURE: &str = "X-Bittensor-Signature";
}

/// Epistula v2's header names (matched case-insensitively by the lookup).
pub mod epistula_headers {
    /// `2`.
    pub const VERSION: &str = "Epistula-Version";
    /// Decimal Unix time in milliseconds.
    pub const TIMESTAMP: &str = "Epistula-Timestamp";
    /// A UUID, canonical text.
    pub const UUID: &str = "Epistula-Uuid";
    /// The sender's SS58.
    pub const SIGNED_BY: &str = "Epistula-Signed-By";
    /// The receiver's SS58.
    pub const SIGNED_FOR: &str = "Epistula-Signed-For";
    /// `0x` + hex of the 64-byte sr25519 signature.
    pub const SIGNATURE: &str = "Epistula-Request-Signature";
}

/// How far a request's time may lie from the verifier's clock: at most `max_age` behind and
/// `max_skew` ahead. The defaults (10 s and 2 s) are btauth/1's and the replay cache's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How old a request may be.
    pub max_age: Duration,
    /// How far ahead of the verifier's clock a request may be.
    pub max_skew: Duration,
}

impl Default for Window {
    fn default() -> Self {
        Window { max_age: Duration::from_secs(10), max_skew: Duration::from_secs(2) }
    }
}

/// Who signed a request whose signature verified, and the nonce the replay cache must see once
/// (for Epistula, the timestamp in nanoseconds with the UUID folded into its last six digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCaller {
    /// The sender's hotkey.
    pub hotkey: Hotkey,
    /// The request's nonce, in nanoseconds since the Unix epoch.
    pub nonce: Nonce,
}

fn unauthorized(message: impl Into<String>) -> Failure {
    Failure::new(Status::Unauthorized, message)
}

fn header<'a>(headers: &'a (impl Headers + ?Sized), name: &str) -> Result<&'a str, Failure> {
    headers.get(name).map(str::trim).ok_or_else(|| unauthorized(format!("missing header {name}")))
}

/// Checks `time` (nanoseconds) against `now` under `window`.
fn fresh(time: u64, now: u64, window: Window) -> Result<(), Failure> {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if now > time && now - time > nanos(window.max_age) {
        return Err(unauthorized(format!(
            "request is stale: {} ms old, the window is {} ms",
            (now - time) / 1_000_000,
            window.max_age.as_millis()
        )));
    }
    if time > now && time - now > nanos(window.max_skew) {
        return Err(unauthorized(format!(
            "request is {} ms in the future, more than the allowed skew of {} ms",
            (time - now) / 1_000_000,
            window.max_skew.as_millis()
        )));
    }
    Ok(())
}

/// The receiver a request names must be `ours`.
fn bound_to(receiver: Option<&str>, ours: &Hotkey) -> Result<(), Failure> {
    match receiver {
        None | Some("") | Some("-") => Err(Failure::new(Status::Forbidden, "the request names no receiver")),
        Some(ss58) if ss58 == ours.to_ss58() => Ok(()),
        Some(ss58) => Err(Failure::new(Status::Forbidden, format!("the request is for {ss58}, not this axon"))),
    }
}

/// Verifies a signature over `message`, or over it wrapped in `<Bytes>...</Bytes>` as the
/// Python wallets also accept, under the hotkey's own scheme only.
fn signed(hotkey: &Hotkey, message: &[u8], signature: &str) -> Result<(), Failure> {
    let signature = Signature::from_hex(signature).map_err(|_| unauthorized("the signature is not 64 bytes of hex"))?;
    if hotkey.verify(message, &signature).is_ok() {
        return Ok(());
    }
    let wrapped = [&b"<Bytes>"[..], message, b"</Bytes>"].concat();
    hotkey.verify(&wrapped, &signature).map_err(|_| unauthorized("Signature mismatch"))
}

/// Verifies a btauth/1 request: `method` and `target` (the path with its query, exactly as
/// sent), the raw `body`, and its headers, for the receiver `ours` at `now`
/// (nanoseconds).
pub fn verify_btauth(
    method: &str,
    target: &str,
    body: &[u8],
    lookup: &(impl Headers + ?Sized),
    ours: &Hotkey,
    now: u64,
    window: Window,
) -> Result<HttpCaller, Failure> {
    use btauth_headers::*;
    let version = header(lookup, VERSION)?;
    if version != "1" {
        return Err(unauthorized(format!("unknown btauth version {version:?}")));
    }
    let sender = header(lookup, HOTKEY)?;
    let nonce: u64 = header(lookup, NONCE)?.parse().map_err(|_| unauthorized("the nonce is not a decimal number"))?;
    let crypto = match lookup.get(CRYPTO).map(str::trim) {
        None => CryptoType::Sr25519,
        Some(name) => name.parse().map_err(|_| unauthorized(format!("unknown signature scheme {name:?}")))?,
    };
    let signature = header(lookup, SIGNATURE)?;
    let hotkey = Hotkey::from_ss58(sender, crypto).map_err(|e| unauthorized(format!("bad sender: {e}")))?;
    let receiver = lookup.get(RECEIVER).map(str::trim);
    bound_to(receiver, ours)?;
    fresh(nonce, now, window)?;
    let request = BtauthRequest { crypto, method, path: target, body, nonce, sender, receiver };
    signed(&hotkey, request.payload().as_bytes(), signature)?;
    Ok(HttpCaller { hotkey, nonce: Nonce(nonce) })
}

/// The btauth/1 headers for a request signed by `keypair` (`receiver` `None` for an unbound
/// request, which neuronet's verifier refuses).
pub fn sign_btauth(
    keypair: &Keypair,
    method: &str,
    target: &str,
    body: &[u8],
    receiver: Option<&Hotkey>,
    nonce: u64,
) -> Vec<(&'static str, String)> {
    use btauth_headers::*;
    let sender = keypair.hotkey().to_ss58();
    let receiver_ss58 = receiver.map(Hotkey::to_ss58);
    let request = BtauthRequest {
        crypto: keypair.crypto(),
        method,
        path: target,
        body,
        nonce,
        sender: &sender,
        receiver: receiver_ss58.as_deref(),
    };
    let signature = keypair.sign(request.payload().as_bytes());
    let mut headers = vec![
        (VERSION, "1".to_owned()),
        (HOTKEY, sender.clone()),
        (NONCE, nonce.to_string()),
        (CRYPTO, keypair.crypto().name().to_owned()),
        (SIGNATURE, signature.to_hex()),
    ];
    if let Some(receiver) = receiver_ss58 {
        headers.push((RECEIVER, receiver));
    }
    headers
}

/// Epistula's signed message: `sha256(body) hex . uuid . timestamp . signed_for` (an empty
/// `signed_for` when there is no receiver).
pub fn epistula_message(body: &[u8], uuid: &str, timestamp: &str, signed_for: &str) -> String {
    format!("{}.{uuid}.{timestamp}.{signed_for}", hex::encode(Sha256::digest(body)))
}

/// The nonce an Epistula request stands for: its timestamp in nanoseconds, with the UUID folded
/// into the six digits below the millisecond, so the same (timestamp, UUID) is one nonce and a
/// replay of it is refused.
pub fn epistula_nonce(timestamp_ms: u64, uuid: &str) -> Nonce {
    let digits: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
    let folded = u128::from_str_radix(&digits, 16).unwrap_or(0) % 1_000_000;
    Nonce(timestamp_ms.saturating_mul(1_000_000).saturating_add(folded as u64))
}

/// A UUID in its canonical hyphenated form (36 characters), as Epistula's header carries it.
fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

/// Verifies an Epistula v2 request (sr25519, the only scheme any implementation uses): the raw
/// `body` and the headers through `lookup`, for the receiver `ours` at `now` (nanoseconds). The
/// receiver is required and the window bounds both ways, which the public verifiers do not.
pub fn verify_epistula(
    body: &[u8],
    lookup: &(impl Headers + ?Sized),
    ours: &Hotkey,
    now: u64,
    window: Window,
) -> Result<HttpCaller, Failure> {
    use epistula_headers::*;
    let version = header(lookup, VERSION)?;
    if version != "2" {
        return Err(unauthorized(format!("unknown Epistula version {version:?}")));
    }
    let timestamp = header(lookup, TIMESTAMP)?;
    let timestamp_ms: u64 = timestamp.parse().map_err(|_| unauthorized("the timestamp is not decimal milliseconds"))?;
    let uuid = header(lookup, UUID)?;
    if !is_uuid(uuid) {
        return Err(unauthorized("the UUID is not a canonical UUID"));
    }
    let sender = header(lookup, SIGNED_BY)?;
    let signature = header(lookup, SIGNATURE)?;
    let hotkey =
        Hotkey::from_ss58(sender, CryptoType::Sr25519).map_err(|e| unauthorized(format!("bad sender: {e}")))?;
    let signed_for = lookup.get(SIGNED_FOR).map(str::trim);
    bound_to(signed_for, ours)?;
    let nonce = epistula_nonce(timestamp_ms, uuid);
    fresh(timestamp_ms.saturating_mul(1_000_000), now, window)?;
    let message = epistula_message(body, uuid, timestamp, signed_for.unwrap_or_default());
    signed(&hotkey, message.as_bytes(), signature)?;
    Ok(HttpCaller { hotkey, nonce })
}

/// The Epistula v2 headers for a request signed by `keypair` (sr25519; Epistula has no other
/// scheme) at `timestamp_ms` with `uuid`, for `receiver`.
pub fn sign_epistula(
    keypair: &Keypair,
    body: &[u8],
    receiver: Option<&Hotkey>,
    uuid: &str,
    timestamp_ms: u64,
) -> Result<Vec<(&'static str, String)>, Failure> {
    use epistula_headers::*;
    if keypair.crypto() != CryptoType::Sr25519 {
        return Err(Failure::new(Status::BadRequest, "Epistula signs with sr25519 hotkeys only"));
    }
    let timestamp = timestamp_ms.to_string();
    let signed_for = receiver.map(Hotkey::to_ss58).unwrap_or_default();
    let signature = keypair.sign(epistula_message(body, uuid, &timestamp, &signed_for).as_bytes());
    let mut headers = vec![
        (VERSION, "2".to_owned()),
        (TIMESTAMP, timestamp),
        (UUID, uuid.to_owned()),
        (SIGNED_BY, keypair.hotkey().to_ss58()),
        (SIGNATURE, signature.to_hex()),
    ];
    if !signed_for.is_empty() {
        headers.push((SIGNED_FOR, signed_for));
    }
    Ok(headers)
}
