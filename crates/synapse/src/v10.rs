//! The bittensor 10.x HTTP wire (axon and dendrite, `bt_header_*`), as the last Python SDK with
//! an axon speaks it: its request verification with upstream's holes closed (the receiver is
//! required, the body hash is recomputed before anything runs, replay goes through the bounded
//! cache with future nonces bounded too, the blacklist runs on the verified hotkey only), and
//! Python's `str()` formatting, which its body hash is computed over.

use crate::http_auth::{HttpCaller, Window};
use crate::payload::{v10_body_hash, v10_message, v10_verify, Nonce};
use crate::{CryptoType, Failure, Hotkey, Signature, Status};
use serde_json::Value;

/// The v10 headers a request is verified by (matched case-insensitively by the lookup).
pub mod headers {
    /// The dendrite's hotkey SS58.
    pub const DENDRITE_HOTKEY: &str = "bt_header_dendrite_hotkey";
    /// The dendrite's nonce, `time.time_ns()`.
    pub const DENDRITE_NONCE: &str = "bt_header_dendrite_nonce";
    /// The dendrite's uuid, fixed for its lifetime.
    pub const DENDRITE_UUID: &str = "bt_header_dendrite_uuid";
    /// `0x` + hex of the sr25519 signature.
    pub const DENDRITE_SIGNATURE: &str = "bt_header_dendrite_signature";
    /// The axon's hotkey SS58: the receiver.
    pub const AXON_HOTKEY: &str = "bt_header_axon_hotkey";
    /// The body hash the signature covers.
    pub const BODY_HASH: &str = "computed_body_hash";
    /// The caller's timeout in seconds (float text).
    pub const TIMEOUT: &str = "timeout";
}

/// Python's `str()` of a JSON-decoded value: strings as themselves, `True`/`False`/`None`,
/// integers in decimal, floats as Python's `repr`, and lists and dicts with their items in
/// `repr` (`['a', 1]`, `{'k': 2.5}`), as bittensor 10's body hash formats a field.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => python_float(f),
            _ => number.to_string(),
        },
        Value::String(text) => python_str_repr(text),
        Value::Array(items) => format!("[{}]", items.iter().map(python_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr` of a float: the shortest digits that read back, in exponent form below 1e-4
/// and from 1e16 (`1e-05`, `1e+16`), with `.0` on whole numbers.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as Python's repr does.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Python's `repr` of a string: single quotes unless the text holds a single quote and no
/// double quote, escapes for backslashes, the quote, and control characters.
fn python_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The body hash of a v10 synapse's JSON `body` over its `required_hash_fields`.
pub fn body_hash(body: &Value, required_hash_fields: &[&str]) -> String {
    let texts: Vec<String> =
        required_hash_fields.iter().map(|field| python_str(body.get(*field).unwrap_or(&Value::Null))).collect();
    v10_body_hash(texts.iter().map(String::as_str))
}

fn unauthorized(message: impl Into<String>) -> Failure {
    Failure::new(Status::Unauthorized, format!("Not Verified with error: {}", message.into()))
}

/// Verifies a v10 dendrite request for the axon `ours` at `now` (nanoseconds): the receiver
/// header, the nonce's window (both ways, unlike upstream), the sr25519 signature over
/// `{nonce}.{dendrite}.{axon}.{uuid}.{body_hash}` with the header's hash, then that hash
/// recomputed from the JSON `body` over `required_hash_fields`, before anything runs. Python's
/// `str()` is reproduced for strings, numbers within 64 bits, booleans, None, and lists; dicts
/// are formatted with their keys sorted (JSON objects do not keep Python's insertion order here),
/// so a hash field holding a dict of several keys may not match.
pub fn verify_request(
    body: &[u8],
    required_hash_fields: &[&str],
    lookup: &(impl crate::http_auth::Headers + ?Sized),
    ours: &Hotkey,
    now: u64,
    window: Window,
) -> Result<HttpCaller, Failure> {
    use headers::*;
    let get = |name: &str| lookup.get(name).map(str::trim).filter(|v| !v.is_empty());
    let sender = get(DENDRITE_HOTKEY).ok_or_else(|| unauthorized("the request names no dendrite hotkey"))?;
    let nonce: u64 = get(DENDRITE_NONCE)
        .ok_or_else(|| unauthorized("the request has no nonce"))?
        .parse()
        .map_err(|_| unauthorized("the nonce is not a decimal number"))?;
    let uuid = get(DENDRITE_UUID).ok_or_else(|| unauthorized("the request has no dendrite uuid"))?;
    let signature = get(DENDRITE_SIGNATURE).ok_or_else(|| unauthorized("the request is not signed"))?;
    let receiver =
        get(AXON_HOTKEY).ok_or_else(|| Failure::new(Status::Forbidden, "the request names no axon hotkey"))?;
    if receiver != ours.to_ss58() {
        return Err(Failure::new(Status::Forbidden, format!("the request is for {receiver}, not this axon")));
    }
    let hotkey = Hotkey::from_ss58(sender, CryptoType::Sr25519)
        .map_err(|e| unauthorized(format!("bad dendrite hotkey: {e}")))?;
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if now > nonce && now - nonce > nanos(window.max_age) {
        return Err(unauthorized(format!(
            "Nonce is too old: acceptable delta is {:.2} seconds but request was {:.2} seconds old",
            window.max_age.as_secs_f64(),
            (now - nonce) as f64 / 1e9
        )));
    }
    if nonce > now && nonce - now > nanos(window.max_skew) {
        return Err(unauthorized(format!("Nonce is {:.2} seconds in the future", (nonce - now) as f64 / 1e9)));
    }
    // The signature covers the claimed hash: checked first, so that nobody without the key makes
    // the axon parse a body.
    let claimed = get(BODY_HASH).unwrap_or_default();
    let signature = Signature::from_hex(signature).map_err(|_| unauthorized("the signature is not 64 bytes of hex"))?;
    let message = v10_message(nonce, sender, receiver, uuid, claimed);
    v10_verify(&hotkey, &message, &signature).map_err(|_| unauthorized("Signature mismatch"))?;
    let recomputed = if required_hash_fields.is_empty() {
        // Over no fields the hash is a constant: nothing to parse.
        body_hash(&Value::Null, &[])
    } else {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| Failure::new(Status::BadRequest, format!("the body is not JSON: {e}")))?;
        body_hash(&json, required_hash_fields)
    };
    if claimed != recomputed {
        return Err(unauthorized("the body does not match its signed hash"));
    }
    Ok(HttpCaller { hotkey, nonce: Nonce(nonce) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_formats_as_python_does() {
        assert_eq!(python_str(&json!("hello")), "hello");
        assert_eq!(python_str(&json!(5)), "5");
        assert_eq!(python_str(&json!(5.0)), "5.0");
        assert_eq!(python_str(&json!(0.1)), "0.1");
        assert_eq!(python_str(&json!(1e-5)), "1e-05");
        assert_eq!(python_str(&json!(1e16)), "1e+16");
        assert_eq!(python_str(&json!(123456789012345.6)), "123456789012345.6");
        assert_eq!(python_str(&json!(-2.5e-7)), "-2.5e-07");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&Value::Null), "None");
        assert_eq!(python_str(&json!(["a", 1, 2.0, null, false])), "['a', 1, 2.0, None, False]");
        assert_eq!(python_str(&json!({"k": "it's", "n": [1]})), r#"{'k': "it's", 'n': [1]}"#);
        assert_eq!(python_str(&json!(["a\nb", "q'\""])), r#"['a\nb', 'q\'"']"#);
    }

    #[test]
    fn the_body_hash_matches_bittensor_10() {
        assert_eq!(
            body_hash(&json!({"text": "hello"}), &["text"]),
            "cd1ba9b9d9fae7c1e56ddf6aa2947ad2e0b83b96bd91dd4b67fc560e83589bad"
        );
        assert_eq!(
            body_hash(&json!({"text": "hello"}), &[]),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
    }
}
