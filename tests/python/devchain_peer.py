"""bittensor 10.5.0's Subtensor on a neuronet devchain: prints one JSON line.

usage: devchain_peer.py read URL NETUID SS58
       devchain_peer.py transfer URL SECRET_URI DEST_SS58 RAO WALLET_DIR
"""
import json
import sys

import bittensor as bt


def transfer(url: str, uri: str, dest: str, rao: int, wallet_dir: str) -> None:
    wallet = bt.Wallet(name="sender", hotkey="default", path=wallet_dir)
    wallet.create_coldkey_from_uri(uri, use_password=False, overwrite=True, suppress=True)
    subtensor = bt.Subtensor(network=url)
    response = subtensor.transfer(
        wallet, dest, bt.Balance.from_rao(rao), mev_protection=False, wait_for_inclusion=True,
        wait_for_finalization=True,
    )
    print(json.dumps({"success": bool(response.success), "message": str(response.message),
                      "balance_rao": subtensor.get_balance(dest).rao}))


def read(url: str, netuid: int, ss58: str) -> None:
    subtensor = bt.Subtensor(network=url)
    neurons = subtensor.neurons_lite(netuid)
    balance = subtensor.get_balance(ss58)
    weights = subtensor.weights(netuid)
    metagraph = subtensor.metagraph(netuid)
    print(json.dumps({
        "block": subtensor.get_current_block(),
        "neurons": [
            {"uid": n.uid, "hotkey": n.hotkey, "coldkey": n.coldkey, "port": n.axon_info.port,
             "ip": n.axon_info.ip, "permit": n.validator_permit}
            for n in neurons
        ],
        "balance_rao": balance.rao,
        "metagraph": {"n": int(metagraph.n), "hotkeys": list(metagraph.hotkeys),
                      "ports": [a.port for a in metagraph.axons],
                      "stake": [float(s) for s in metagraph.stake]},
        "weights": [[uid, [[d, w] for d, w in row]] for uid, row in weights],
    }))


if __name__ == "__main__":
    if sys.argv[1] == "transfer":
        transfer(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        read(sys.argv[2], int(sys.argv[3]), sys.argv[4])
