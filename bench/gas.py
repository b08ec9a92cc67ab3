"""Gas of GreenProof v2 on a local anvil (prague), with real efficiency proofs: prints one JSON line.

    .venv/bin/python bench/gas.py [--max-n 128]

Figures (gas used by mined transactions: intrinsic 21000 + calldata + execution, storage and events):
- submit_first / submit_later: GreenProof.submit of a node's first epoch (a fresh bitmap word, a beneficiary's
  first accrual: two 0 → x slots) and of its next epoch (both slots already non-zero).
- batch_per_proof {"1", "8", "32", "128"}: submitBatch gas / n, per accepted epoch, for a relay's batch of n
  distinct fleet nodes sharing one beneficiary, each node's first epoch (a fresh bitmap word per node: the
  conservative case). batch_per_proof_one_node: the node's own queue, n consecutive epochs of one node.
- batch_floor_per_proof: what each extra proof costs at least, whatever n (see FLOOR below).
- claim, admit_node, set_efficiency_class.

The floor per proof as n grows (fixed costs: 21000 + pairing base 45000 + 3 pairs 102000 + 8 ecMul and 6 ecAdd
for vk_x and alpha ≈ 217k, spread over n): one pairing pair 34,000 + two ecMul 12,000 (ρ·A, ρ·C) + one ecAdd 150
= 46,150 of precompiles; calldata ≈ 5,600 (14 words, ~316 non-zero bytes × 16); the node's packed slot (cold
SLOAD 2,100); the bitmap bit (5,000 warm-word / 22,100 fresh word); the accrual (aggregated per run of one
beneficiary: ~100 when shared); EpochProved (LOG4 + 288 data bytes ≈ 4,200); the transcript keccak (the weights
hash the whole transcript once per proof, 6 gas per word: grows as 84·n per proof) and memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from web3 import Web3  # noqa: E402

from oracle.chain.anvil import Anvil, rpc_call  # noqa: E402
from oracle.chain.deploy import deploy_local, load_params  # noqa: E402
from oracle.conventions import label_to_bytes32  # noqa: E402

CLASS = label_to_bytes32("BENCH/llm/token")
ENERGY = [300 + i for i in range(64)]
WORK = [500] * 64
TIER = 900
SIZES = (1, 8, 32, 128)
FLOOR = 34_000 + 2 * 6_000 + 150


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=128, help="largest batch (default 128)")
    args = parser.parse_args()
    sizes = [n for n in SIZES if n <= args.max_n]
    from oracle.zk import Prover, random_salt
    from oracle.zk.artifacts import EFFICIENCY

    params = load_params()
    length = params.epoch_length_s
    with Anvil(log_file=Path("/tmp/ecoai_bench_gas_anvil.log")) as chain:
        url = chain.url
        deployment = deploy_local(url, params, out=Path("/tmp/ecoai_bench_gas_deployment.json"))
        w3 = Web3(Web3.HTTPProvider(url))
        green = deployment.green_proof(w3)
        gov, node, beneficiary, relayer = w3.eth.accounts[:4]

        def send(fn, sender):
            receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": 30_000_000}))
            assert receipt.status == 1
            return receipt.gasUsed

        set_class = send(green.functions.setEfficiencyClass(
            CLASS, label_to_bytes32("H200"), label_to_bytes32("llm-8b"), label_to_bytes32("token"), "bench",
            2000, [400, 600, 900, 1400], 1, 10_000, False), gov)
        admit = send(green.functions.admitNode(node, beneficiary, CLASS, label_to_bytes32("KR"), "bench-node"), gov)
        fleet = [Web3.to_checksum_address(f"0x{0xB0000 + i:040x}") for i in range(max(sizes))]
        for address in fleet:
            send(green.functions.admitNode(address, beneficiary, CLASS, label_to_bytes32("KR"), "fleet"), gov)

        e0 = (int(time.time()) + 86_400) // length
        started = time.monotonic()
        with Prover(circuit=EFFICIENCY) as prover:
            def prove(who: str, epoch: int) -> tuple:
                b = prover.prove_efficiency(ENERGY, WORK, random_salt(), TIER, epoch, who, 0)
                return (who, epoch, 2, b.work_units_total, 0, b.commitment, b.calldata()["proof"])
            single = [prove(node, e0 + k) for k in range(2)]
            fleet_items = [prove(a, e0) for a in fleet]
            own_items = [prove(node, e0 + 2 + k) for k in range(max(sizes))]
        prove_s = time.monotonic() - started

        rpc_call(url, "evm_setNextBlockTimestamp", [(e0 + 3 + max(sizes)) * length + 1])
        rpc_call(url, "evm_mine", [])
        submit_first = send(green.functions.submit(*single[0][1:]), node)
        submit_later = send(green.functions.submit(*single[1][1:]), node)
        claim = send(green.functions.claim(), beneficiary)

        def batch_gas(items: list[tuple]) -> int:
            snapshot = rpc_call(url, "evm_snapshot", [])
            gas = send(green.functions.submitBatch(items), relayer)
            rpc_call(url, "evm_revert", [snapshot])
            return gas

        per_proof = {str(n): batch_gas(fleet_items[:n]) // n for n in sizes}
        one_node = {str(n): batch_gas(own_items[:n]) // n for n in sizes}

    print(json.dumps({
        "submit_first": submit_first, "submit_later": submit_later,
        "batch_per_proof": per_proof, "batch_per_proof_one_node": one_node,
        "batch_goal_at_32": 70_000, "batch_floor_per_proof": FLOOR,
        "claim": claim, "admit_node": admit, "set_efficiency_class": set_class,
        "proofs": 2 + len(fleet_items) + len(own_items), "prove_s": round(prove_s, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
