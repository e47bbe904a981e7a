"""The Python side of the bittensor 10 interop tests: a real bittensor 10.5.0 dendrite querying an
axon over the v10 HTTP wire. Prints one JSON line.

  query JSON   {"port", "axon_hotkey", "synapse": "Echo" or "Nope", "text", "uri"}
"""
import asyncio
import json
import sys

import bittensor as bt
from bittensor.utils import networking
from bittensor_wallet import Keypair

# The test machines reach no IP-echo service: the dendrite's own address is loopback.
networking.get_external_ip = lambda: "127.0.0.1"


class Echo(bt.Synapse):
    text: str
    out: str = ""
    required_hash_fields = ("text",)


class Nope(bt.Synapse):
    text: str = ""


async def query(spec: dict) -> dict:
    keypair = Keypair.create_from_uri(spec["uri"])
    dendrite = bt.Dendrite(wallet=keypair)
    axon = bt.AxonInfo(
        version=1, ip="127.0.0.1", port=spec["port"], ip_type=4,
        hotkey=spec["axon_hotkey"], coldkey=spec["axon_hotkey"],
    )
    synapse = {"Echo": Echo, "Nope": Nope}[spec["synapse"]](text=spec["text"])
    answer = await dendrite.call(target_axon=axon, synapse=synapse, timeout=10.0, deserialize=False)
    await dendrite.aclose_session()
    return {
        "status_code": answer.dendrite.status_code,
        "status_message": answer.dendrite.status_message,
        "out": getattr(answer, "out", None),
        "text": answer.text,
    }


def main() -> None:
    if sys.argv[1] == "query":
        print(json.dumps(asyncio.run(query(json.loads(sys.argv[2])))))
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")


if __name__ == "__main__":
    main()
