"""The Python side of the bittensor 10 interop tests: a real bittensor 10.5.0 dendrite querying an
axon over the v10 HTTP wire. Prints one JSON line.

  query JSON    {"port", "axon_hotkey", "synapse": "Echo" or "Nope", "text", "uri"}
  builtin JSON  {"port", "axon_hotkey", "prompt", "uri", "module_dir"}: neuronet's built-in
                TextGeneration and TextGenerationStream through python/neuronet_synapses.py
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


async def builtin(spec: dict) -> dict:
    """Queries neuronet's built-in TextGeneration, then TextGenerationStream, through the Python
    counterpart module in python/neuronet_synapses.py."""
    sys.path.insert(0, spec["module_dir"])
    from neuronet_synapses import TextGeneration, TextGenerationStream

    dendrite = bt.Dendrite(wallet=Keypair.create_from_uri(spec["uri"]))
    axon = bt.AxonInfo(
        version=1, ip="127.0.0.1", port=spec["port"], ip_type=4,
        hotkey=spec["axon_hotkey"], coldkey=spec["axon_hotkey"],
    )
    # A real model gets a bounded completion and time for it; the echo axon ignores both.
    max_tokens = spec.get("max_tokens", 0)
    timeout = spec.get("timeout", 10.0)
    answer = await dendrite.call(
        target_axon=axon, synapse=TextGeneration(prompt=spec["prompt"], max_tokens=max_tokens), timeout=timeout,
    )
    pieces = []
    final = None
    stream = TextGenerationStream(prompt=spec["prompt"], max_tokens=max_tokens)
    async for item in dendrite.call_stream(target_axon=axon, synapse=stream, timeout=timeout, deserialize=False):
        if isinstance(item, str):
            pieces.append(item)
        else:
            final = item
    await dendrite.aclose_session()
    return {
        "text": answer,
        "pieces": pieces,
        "final_text": final.text if final is not None else None,
        "final_status": final.dendrite.status_code if final is not None else None,
    }


def main() -> None:
    commands = {"query": query, "builtin": builtin}
    if sys.argv[1] not in commands:
        raise SystemExit(f"unknown command {sys.argv[1]}")
    print(json.dumps(asyncio.run(commands[sys.argv[1]](json.loads(sys.argv[2])))))


if __name__ == "__main__":
    main()

