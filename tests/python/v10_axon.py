"""A real bittensor 10.5.0 axon for the interop tests: serves `Echo` (out = text.upper()) as //Bob
on 127.0.0.1:PORT, refusing //Dave in its blacklist. Prints one JSON line when serving, then
serves until killed.

  python v10_axon.py PORT
"""
import json
import socket
import sys
import tempfile
import time
from typing import Tuple

import bittensor as bt
from bittensor.utils import networking
from bittensor_wallet import Keypair, Wallet

# The test machines reach no IP-echo service.
networking.get_external_ip = lambda: "127.0.0.1"

DAVE = Keypair.create_from_uri("//Dave").ss58_address


class Echo(bt.Synapse):
    text: str
    out: str = ""
    required_hash_fields = ("text",)


def forward(synapse: Echo) -> Echo:
    synapse.out = synapse.text.upper()
    return synapse


def blacklist(synapse: Echo) -> Tuple[bool, str]:
    if synapse.dendrite.hotkey == DAVE:
        return True, "dave is banned"
    return False, "allowed"


def main() -> None:
    port = int(sys.argv[1])
    wallet = Wallet(name="axon", hotkey="default", path=tempfile.mkdtemp())
    bob = Keypair.create_from_uri("//Bob")
    wallet.set_hotkey(bob, encrypt=False, overwrite=True)
    wallet.set_coldkeypub(bob, encrypt=False, overwrite=True)
    axon = bt.Axon(wallet=wallet, port=port, ip="127.0.0.1", external_ip="127.0.0.1")
    axon.attach(forward_fn=forward, blacklist_fn=blacklist)
    axon.start()
    # The server comes up on a thread of its own: say so once it takes connections.
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    print(json.dumps({"serving": port, "hotkey": bob.ss58_address}), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
