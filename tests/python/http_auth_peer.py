"""The Python side of the HTTP authentication interop tests, with bittensor 11.3.0: btauth/1 from
`bittensor.http_auth` itself, and an Epistula v2 signer and verifier written here from the header
spec (docs/protocol.md section 7) with bittensor-core's sr25519 keys. Prints one JSON line.

  btauth-sign JSON      {"uri", "crypto", "method", "path", "body", "receiver", "nonce_ns"?}
  btauth-verify JSON    {"headers", "body", "method", "path", "self"}
  epistula-sign JSON    {"uri", "body", "receiver", "uuid", "timestamp_ms"}
  epistula-verify JSON  {"headers", "body", "self"}
Bodies are hex.
"""
import hashlib
import json
import sys
import time

import bittensor_core
from bittensor import http_auth
from bittensor_core import Keypair


def keypair(uri: str, crypto: str = "sr25519") -> Keypair:
    kind = bittensor_core.CRYPTO_ED25519 if crypto == "ed25519" else bittensor_core.CRYPTO_SR25519
    return Keypair.create_from_uri(uri, crypto_type=kind)


def btauth_sign(spec: dict) -> dict:
    headers = http_auth.sign(
        keypair(spec["uri"], spec.get("crypto", "sr25519")),
        method=spec["method"], path=spec["path"], body=bytes.fromhex(spec["body"]),
        receiver_ss58=spec.get("receiver"), nonce_ns=spec.get("nonce_ns"),
    )
    return {"headers": headers}


def btauth_verify(spec: dict) -> dict:
    try:
        caller = http_auth.verify(
            spec["headers"], bytes.fromhex(spec["body"]), method=spec["method"], path=spec["path"],
            self_hotkey_ss58=spec["self"],
        )
        return {"ok": True, "hotkey": caller.hotkey_ss58}
    except http_auth.AuthError as error:
        return {"ok": False, "error": type(error).__name__}


def epistula_message(body: bytes, uuid: str, timestamp: str, signed_for: str) -> bytes:
    return f"{hashlib.sha256(body).hexdigest()}.{uuid}.{timestamp}.{signed_for}".encode()


def epistula_sign(spec: dict) -> dict:
    key = keypair(spec["uri"])
    timestamp = str(spec["timestamp_ms"])
    body = bytes.fromhex(spec["body"])
    signature = key.sign(epistula_message(body, spec["uuid"], timestamp, spec["receiver"]))
    return {"headers": {
        "Epistula-Version": "2",
        "Epistula-Timestamp": timestamp,
        "Epistula-Uuid": spec["uuid"],
        "Epistula-Signed-By": key.ss58_address,
        "Epistula-Signed-For": spec["receiver"],
        "Epistula-Request-Signature": "0x" + signature.hex(),
    }}


def epistula_verify(spec: dict) -> dict:
    headers = {k.lower(): v for k, v in spec["headers"].items()}
    if headers.get("epistula-version") != "2":
        return {"ok": False, "error": "version"}
    if headers.get("epistula-signed-for") != spec["self"]:
        return {"ok": False, "error": "receiver"}
    timestamp = headers["epistula-timestamp"]
    if abs(int(timestamp) - time.time() * 1000) > 10_000:
        return {"ok": False, "error": "stale"}
    message = epistula_message(bytes.fromhex(spec["body"]), headers["epistula-uuid"], timestamp, spec["self"])
    signer = Keypair(ss58_address=headers["epistula-signed-by"])
    signature = bytes.fromhex(headers["epistula-request-signature"].removeprefix("0x"))
    ok = signer.verify(message, signature)
    return {"ok": bool(ok), "error": None if ok else "signature", "hotkey": headers["epistula-signed-by"]}


COMMANDS = {
    "btauth-sign": btauth_sign,
    "btauth-verify": btauth_verify,
    "epistula-sign": epistula_sign,
    "epistula-verify": epistula_verify,
}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))))
