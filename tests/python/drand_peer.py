"""The Python side of the timelock interop tests: bittensor-drand (bittensor 10, btcli) or
bittensor-core (bittensor 11.3.0), which the Python SDKs commit timelocked weights with. The first
argument picks the library (`drand` or `core`); prints one JSON line.

  decrypt COMMIT_HEX ROUND SIGNATURE_HEX   opens a chain commit (wrapped in bittensor's UserData
                                           envelope with its round, as bittensor_drand expects)
  encrypt PAYLOAD_HEX ROUND                a commit for ROUND (the chain's bytes, envelope removed)
  commit-v2 JSON                           get_encrypted_commit_v2's commit and round for a state
  commit-v1 JSON                           the same by the legacy modulo rule (bittensor-drand 1.2)
"""
import json
import sys
import time

import importlib


def compact_len(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    raise ValueError("too long")


def envelope(commit: bytes, round_: int) -> bytes:
    return compact_len(len(commit)) + commit + round_.to_bytes(8, "little")


def unwrap(data: bytes) -> bytes:
    mode = data[0] & 3
    if mode == 0:
        n, skip = data[0] >> 2, 1
    elif mode == 1:
        n, skip = int.from_bytes(data[:2], "little") >> 2, 2
    else:
        n, skip = int.from_bytes(data[:4], "little") >> 2, 4
    return data[skip:skip + n]


def main() -> None:
    library = {"drand": "bittensor_drand", "core": "bittensor_core"}[sys.argv.pop(1)]
    bittensor_drand = importlib.import_module(library)
    command = sys.argv[1]
    if command == "decrypt":
        commit, round_, signature = bytes.fromhex(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        plain = bittensor_drand.decrypt_with_signature(envelope(commit, round_), signature)
        print(json.dumps({"plaintext": plain.hex()}))
    elif command == "encrypt":
        payload, round_ = bytes.fromhex(sys.argv[2]), int(sys.argv[3])
        data, got = bittensor_drand.encrypt_at_round(payload, round_)
        print(json.dumps({"commit": unwrap(data).hex(), "round": got}))
    elif command == "commit-v2":
        s = json.loads(sys.argv[2])
        before = int(time.time())
        commit, round_ = bittensor_drand.get_encrypted_commit_v2(
            s["uids"], s["values"], s["version_key"], s["last_epoch_block"], s["pending_epoch_at"],
            s["epoch_index"], s["tempo"], s["blocks_since_last_step"], s["current_block"],
            s["reveal_period_epochs"], s["block_time"], bytes.fromhex(s["hotkey"]),
        )
        after = int(time.time())
        print(json.dumps({"commit": commit.hex(), "round": round_, "before": before, "after": after}))
    elif command == "commit-v1":
        s = json.loads(sys.argv[2])
        before = int(time.time())
        commit, round_ = bittensor_drand.get_encrypted_commit(
            s["uids"], s["values"], s["version_key"], s["tempo"], s["current_block"], s["netuid"],
            s["reveal_period_epochs"], s["block_time"], bytes.fromhex(s["hotkey"]),
        )
        after = int(time.time())
        print(json.dumps({"commit": commit.hex(), "round": round_, "before": before, "after": after}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
