"""bittensor 11.3.0's client on a neuronet devchain: prints one JSON line.

usage: devchain_peer11.py read URL NETUID SS58
       devchain_peer11.py serve URL HOTKEY_URI NETUID IP PORT
       devchain_peer11.py weights URL HOTKEY_URI NETUID UIDS WEIGHTS   (comma-separated lists)
"""
import asyncio
import json
import sys
from types import SimpleNamespace

import bittensor as bt
from bittensor.sp_core import Keypair


def dev_wallet(uri: str):
    """A wallet-shaped object holding one dev keypair as both coldkey and hotkey."""
    key = Keypair.create_from_uri(uri)
    return SimpleNamespace(coldkey=key, coldkeypub=key, hotkey=key)


def plain(value):
    """A JSON-friendly view of what the SDK returns (dataclasses, balances, bytes)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "rao"):
        return int(value.rao)
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


async def read(url: str, netuid: int, ss58: str) -> None:
    async with bt.Subtensor(url) as client:
        neurons = await client.neurons.all(netuid=netuid)
        metagraph = await client.subnets.metagraph(netuid)
        balance = await client.balances.get(ss58)
        print(json.dumps({
            "neurons": [
                {"uid": n.uid, "hotkey": n.hotkey, "coldkey": n.coldkey, "active": n.active}
                for n in neurons
            ],
            "metagraph": {"n": len(metagraph.hotkeys), "hotkeys": list(metagraph.hotkeys),
                          "coldkeys": list(metagraph.coldkeys),
                          "axons": [str(n.axon) for n in metagraph.neurons],
                          "owner_hotkey": metagraph.owner_hotkey, "tempo": int(metagraph.tempo)},
            "balance_rao": int(balance.rao),
        }))


async def serve(url: str, uri: str, netuid: int, ip: str, port: int) -> None:
    async with bt.Subtensor(url) as client:
        result = await client.execute(bt.intents.ServeAxon(netuid=netuid, ip=ip, port=port), dev_wallet(uri))
        print(json.dumps({"success": bool(result.success), "message": str(result.message)}))


async def weights(url: str, uri: str, netuid: int, uids: list, values: list) -> None:
    async with bt.Subtensor(url) as client:
        intent = bt.intents.SetWeights(netuid=netuid, uids=uids, weights=values)
        result = await client.execute(intent, dev_wallet(uri))
        print(json.dumps({"success": bool(result.success), "message": str(result.message),
                          "extras": plain(getattr(result, "extras", None))}))


if __name__ == "__main__":
    command, url = sys.argv[1], sys.argv[2]
    if command == "read":
        asyncio.run(read(url, int(sys.argv[3]), sys.argv[4]))
    elif command == "serve":
        asyncio.run(serve(url, sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])))
    else:
        ints = lambda text: [int(x) for x in text.split(",")]
        floats = lambda text: [float(x) for x in text.split(",")]
        asyncio.run(weights(url, sys.argv[3], int(sys.argv[4]), ints(sys.argv[5]), floats(sys.argv[6])))
