"""bittensor 10.5.0's Subtensor reading a neuronet devchain: prints one JSON line.

usage: devchain_peer.py URL NETUID SS58
"""
import json
import sys

import bittensor as bt


def main() -> None:
    url, netuid, ss58 = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
    main()
