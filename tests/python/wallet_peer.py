"""The Python side of neuronet's wallet interop tests, driven by the Rust tests.

Each subcommand uses the real `bittensor_wallet` library and prints one JSON object.
"""
import json
import sys

from bittensor_wallet import Keypair, Wallet


def crypto_code(name):
    return {"sr25519": 1, "ed25519": 0}[name]


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "new-hotkey":
        path, name, hotkey, crypto = args
        wallet = Wallet(name=name, hotkey=hotkey, path=path)
        wallet.create_new_hotkey(n_words=12, use_password=False, overwrite=True, suppress=True,
                                 crypto_type=crypto_code(crypto))
        out = {"ss58": wallet.hotkey.ss58_address}
    elif cmd == "load-hotkey":
        path, name, hotkey = args
        kp = Wallet(name=name, hotkey=hotkey, path=path).hotkey
        out = {"ss58": kp.ss58_address, "crypto_type": kp.crypto_type}
    elif cmd == "sign-hotkey":
        path, name, hotkey, message = args
        kp = Wallet(name=name, hotkey=hotkey, path=path).hotkey
        out = {"signature": "0x" + kp.sign(message.encode()).hex()}
    elif cmd == "verify":
        ss58, crypto, message, signature = args
        kp = Keypair(ss58_address=ss58, crypto_type=crypto_code(crypto))
        out = {"valid": bool(kp.verify(message.encode(), bytes.fromhex(signature.removeprefix("0x"))))}
    elif cmd == "new-coldkey":
        path, name, password, crypto = args
        wallet = Wallet(name=name, path=path)
        wallet.create_new_coldkey(n_words=12, use_password=True, overwrite=True, suppress=True,
                                  coldkey_password=password, crypto_type=crypto_code(crypto))
        out = {"ss58": wallet.coldkeypub.ss58_address}
    elif cmd == "load-coldkey":
        path, name, password = args
        try:
            kp = Wallet(name=name, path=path).get_coldkey(password=password)
            out = {"ss58": kp.ss58_address}
        except Exception as error:  # the library raises its own KeyFileError
            out = {"error": str(error)}
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
