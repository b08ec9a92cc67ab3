"""Gas of the EcoAI contracts on a local anvil, with real proofs: prints one JSON line.

    .venv/bin/python bench/gas.py

Figures (gas used by mined transactions unless noted):
- submit_first / submit_later: GreenProof.submit for a beneficiary's first accepted epoch (its accrued
  balance goes 0 → x, a fresh slot) and for a later one; submit_goal is the issue's target.
- of which: intrinsic (21000 + calldata), verifier_call (the STATICCALL into Groth16Verifier, from a call
  trace), rest (registry and parameter reads, field/epoch checks, record and accrual writes, event).
- verifier_tx / verifier_exec: verifyProof sent as its own transaction, and without its intrinsic part.
- precompile_floor: what the EIP-196/197 precompiles alone cost for 4 public inputs (4 ecMul, 4 ecAdd, a
  4-pair pairing); pairing_floor is the pairing alone (45000 + 4 × 34000 = 181000).
- claim: claim() minting the accrued credits; admit_node: registering a node.
- record_write: GreenProof stores an EpochRecord with a struct assignment that the compiler packs into one
  slot; the figures compare that with the hand-packed word (literal shifts, one SSTORE in assembly) it replaced,
  both compiled with the project's solc settings into a probe contract and each writing a fresh slot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from web3 import Web3  # noqa: E402

from oracle.chain.anvil import Anvil, rpc_call  # noqa: E402
from oracle.chain.deploy import deploy_local, load_params  # noqa: E402
from oracle.conventions import label_to_bytes32  # noqa: E402
from oracle.paths import NODE_BIN  # noqa: E402

PAIRING_FLOOR = 45_000 + 4 * 34_000
PRECOMPILE_FLOOR = PAIRING_FLOOR + 4 * 6_000 + 4 * 150
SUBMIT_GOAL = 230_000

# Both ways of writing GreenProof's EpochRecord, with GreenProof's struct: the compiler's packing and the
# literal shifts that duplicated the struct layout before.
RECORD_PROBE = """
pragma solidity ^0.8.24;
contract RecordWrites {
    struct EpochRecord { uint40 acceptedAt; uint8 tier; uint40 thresholdMj; uint64 carbonBoundMg; uint96 credits; }
    mapping(address => mapping(uint64 => EpochRecord)) private _records;
    function structAssignment(uint64 epoch, uint8 tier, uint256 threshold, uint256 carbon, uint256 credits) external {
        _records[msg.sender][epoch] = EpochRecord({acceptedAt: uint40(block.timestamp), tier: tier,
            thresholdMj: uint40(threshold), carbonBoundMg: uint64(carbon), credits: uint96(credits)});
    }
    function assemblyShifts(uint64 epoch, uint8 tier, uint256 threshold, uint256 carbon, uint256 credits) external {
        EpochRecord storage record = _records[msg.sender][epoch];
        uint256 word = block.timestamp | (uint256(tier) << 40) | (threshold << 48) | (carbon << 88) | (credits << 152);
        assembly { sstore(record.slot, word) }
    }
    function recordOf(address node, uint64 epoch) external view returns (EpochRecord memory) {
        return _records[node][epoch];
    }
}
"""


def intrinsic_gas(data: bytes) -> int:
    """21000 + calldata at 4/16 gas per zero/non-zero byte (EIP-2028). The EIP-7623 calldata floor does not
    bind here: it only applies when execution costs less than 6 gas per calldata token."""
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


def verifier_call_gas(url: str, tx_hash: str) -> int:
    trace = rpc_call(url, "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}], timeout=30)
    calls = [c for c in trace.get("calls", []) if c["type"] == "STATICCALL"]
    return sum(int(c["gasUsed"], 16) for c in calls)


def compile_probe() -> dict:
    """ABI and bytecode of RECORD_PROBE, compiled by the project's offline solc with ape-config.yaml's settings."""
    settings = {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "prague",
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}
    request = {"language": "Solidity", "sources": {"Probe.sol": {"content": RECORD_PROBE}}, "settings": settings}
    out = subprocess.run(["node", str(REPO_ROOT / "scripts" / "solc_cli.js"), "--standard-json"],
                         input=json.dumps(request), capture_output=True, text=True, check=True).stdout
    compiled = json.loads(out)
    errors = [e["formattedMessage"] for e in compiled.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    return compiled["contracts"]["Probe.sol"]["RecordWrites"]


def record_write_gas(w3: Web3, sender: str) -> dict[str, int]:
    """Gas of one EpochRecord write each way (fresh slots, the same values), checked to store the same record."""
    probe = compile_probe()
    factory = w3.eth.contract(abi=probe["abi"], bytecode=probe["evm"]["bytecode"]["object"])
    address = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender})).contractAddress
    contract = w3.eth.contract(address=address, abi=probe["abi"])
    values = (1, 1_500_000, 180, 555_555_555_555_555_555)
    gas = {}
    for epoch, name in enumerate(("structAssignment", "assemblyShifts"), 1):
        tx_hash = getattr(contract.functions, name)(epoch, *values).transact({"from": sender})
        gas[name] = w3.eth.wait_for_transaction_receipt(tx_hash).gasUsed
    struct_record, shifted_record = (contract.functions.recordOf(sender, e).call() for e in (1, 2))
    assert tuple(struct_record)[1:] == tuple(shifted_record)[1:] == values, (struct_record, shifted_record)
    return {"struct_assignment": gas["structAssignment"], "assembly_shifts": gas["assemblyShifts"],
            "difference": gas["structAssignment"] - gas["assemblyShifts"]}


def main() -> int:
    import os

    os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    from oracle.zk import Prover, random_salt

    params = load_params()
    baseline, tiers = params.class_energy("H200")
    readings = [15_000 + 37 * i for i in range(64)]  # 1,034,592 mJ: provable at tier 1 (1,500,000 mJ)
    with tempfile.TemporaryDirectory() as tmp, Anvil(log_file=Path(tmp) / "anvil.log") as anvil:
        os.environ["ECOAI_HOME"] = tmp
        deployment = deploy_local(anvil.url, params, out=Path(tmp) / "local.json")
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        governor, node, beneficiary = w3.eth.accounts[:3]
        green, verifier = deployment.green_proof(w3), deployment.verifier(w3)

        def send(fn, sender):
            # An explicit gas limit: eth_estimateGas would find the least gas at which verifyProof does not
            # revert, which is where its pairing runs out of gas and it returns false.
            tx_hash = fn.transact({"from": sender, "gas": 2_000_000})
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
            assert receipt.status == 1
            return receipt

        admit = send(green.functions.admitNode(node, beneficiary, label_to_bytes32("H200"), label_to_bytes32("KR")),
                     governor)
        epoch = (int(time.time()) + 86_400) // params.epoch_length_s
        with Prover() as prover:
            bundles = [prover.prove(readings, random_salt(), tiers[1], e, node).calldata()
                       for e in (epoch, epoch + 1)]
        rpc_call(anvil.url, "evm_setNextBlockTimestamp", [(epoch + 2) * params.epoch_length_s + 1])
        rpc_call(anvil.url, "evm_mine", [])  # calls and gas estimates see the new time too
        submits = []
        for e, data in zip((epoch, epoch + 1), bundles, strict=True):
            fn = green.functions.submit(e, 1, data["inputs"][3], data["proof"])
            receipt = send(fn, node)
            tx = w3.eth.get_transaction(receipt.transactionHash)
            intrinsic = intrinsic_gas(bytes(tx["input"]))
            verifier_gas = verifier_call_gas(anvil.url, receipt.transactionHash.to_0x_hex())
            submits.append({"gas": receipt.gasUsed, "intrinsic": intrinsic, "verifier_call": verifier_gas,
                            "rest": receipt.gasUsed - intrinsic - verifier_gas})
        claim = send(green.functions.claim(), beneficiary)

        data = bundles[0]
        vfn = verifier.functions.verifyProof(data["a"], data["b"], data["c"], data["inputs"])
        assert vfn.call() is True
        verifier_tx = send(vfn, node)
        trace = rpc_call(anvil.url, "debug_traceTransaction",
                         [verifier_tx.transactionHash.to_0x_hex(), {"tracer": "callTracer"}], timeout=30)
        assert int(trace["output"], 16) == 1, "verifyProof returned false in the measured transaction"
        verifier_intrinsic = intrinsic_gas(bytes(w3.eth.get_transaction(verifier_tx.transactionHash)["input"]))
        record_write = record_write_gas(w3, governor)

    print(json.dumps({
        "submit_first": submits[0]["gas"],
        "submit_later": submits[1]["gas"],
        "submit_goal": SUBMIT_GOAL,
        "submit_later_breakdown": {k: submits[1][k] for k in ("intrinsic", "verifier_call", "rest")},
        "submit_first_breakdown": {k: submits[0][k] for k in ("intrinsic", "verifier_call", "rest")},
        "claim": claim.gasUsed,
        "admit_node": admit.gasUsed,
        "verifier_tx": verifier_tx.gasUsed,
        "verifier_exec": verifier_tx.gasUsed - verifier_intrinsic,
        "precompile_floor": PRECOMPILE_FLOOR,
        "pairing_floor": PAIRING_FLOOR,
        "record_write": record_write,
        "chain": "anvil (prague)",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
