"""`ecoai verify --onchain NODE EPOCH` against a real anvil with GreenProof v2 deployed and real v2 proofs:
one epoch settled by the node's own `submit`, two by a relayed `submitBatch`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.chain.anvil import Anvil, rpc_call
from oracle.chain.deploy import connect, deploy_stack, load_params
from oracle.chain.deployment import Deployment
from oracle.chain.governance import Governor, send_transaction
from oracle.chain.keys import dev_account
from oracle.zk import Prover, random_salt

CLASS_ID = "H200/encoder-bf16/item"  # require_measured = false: the estimated/replayed methods code is accepted
REGION = "KR"
GOVERNOR, NODE, BENEFICIARY, RELAYER = 0, 1, 2, 3
ENERGY = [1_000 + 3 * i for i in range(64)]  # mJ
WORK = [10 + (i % 5) for i in range(64)]  # units: 70,048 mJ for 768 units = 91,209 µJ/unit, under tier 0
METHODS = 0x21  # energy estimated, work replayed: the chain records methods, the proof binds them


@dataclass(frozen=True)
class Chain:
    url: str
    deployment_file: Path
    node: str
    single_epoch: int  # settled by submit
    batch_epochs: tuple[int, int]  # settled by one submitBatch
    never_epoch: int  # proved, never submitted


def _mine_at(url: str, timestamp: int) -> None:
    latest = int(rpc_call(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    rpc_call(url, "evm_setNextBlockTimestamp", [max(timestamp, latest + 1)])
    rpc_call(url, "evm_mine", [])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    from ape import accounts
    from web3 import Web3

    work_dir = tmp_path_factory.mktemp("onchain")
    params = load_params()
    length = params.epoch_length_s
    with Anvil(log_file=work_dir / "anvil.log") as anvil:
        with connect(anvil.url):
            deployment = deploy_stack(accounts.test_accounts[GOVERNOR], params, "ethereum:local")
        deployment_file = deployment.save(work_dir / "local.json")
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        node_key, relayer = dev_account(NODE), dev_account(RELAYER)
        Governor(w3, deployment, dev_account(GOVERNOR)).admit_node(
            node_key.address, dev_account(BENEFICIARY).address, CLASS_ID, REGION, "test node")
        green = deployment.green_proof(w3)
        admitted_at = green.functions.nodeInfo(node_key.address).call()[4]
        first = admitted_at // length + 1  # the first epoch that starts after the admission
        tier0 = params.classes[CLASS_ID].tiers_uj_per_unit[0]

        proofs = {}
        with Prover() as prover:
            for epoch in (first, first + 1, first + 2, first + 3):
                bundle = prover.prove_efficiency(ENERGY, WORK, random_salt(), tier0, epoch, node_key.address,
                                                 METHODS)
                proofs[epoch] = bundle.calldata()["proof"], bundle.commitment
        _mine_at(anvil.url, (first + 4) * length + 1)  # every proven epoch has ended

        proof, commitment = proofs[first]
        send_transaction(w3, node_key, green.functions.submit(first, 0, sum(WORK), METHODS, commitment, proof))
        items = [(node_key.address, e, 0, sum(WORK), METHODS, proofs[e][1], proofs[e][0])
                 for e in (first + 1, first + 2)]
        send_transaction(w3, relayer, green.functions.submitBatch(items))
        for epoch in (first, first + 1, first + 2):
            assert green.functions.isAccepted(node_key.address, epoch).call()
        assert not green.functions.isAccepted(node_key.address, first + 3).call()
        yield Chain(anvil.url, deployment_file, node_key.address, first, (first + 1, first + 2), first + 3)


def _verify(chain: Chain, epoch: int, *extra: str) -> int:
    return main(["verify", "--onchain", chain.node, str(epoch), "--rpc-url", chain.url,
                 "--deployment", str(chain.deployment_file), *extra])


def test_valid_for_an_epoch_settled_by_submit(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(chain, chain.single_epoch) == 0
    out = capsys.readouterr().out
    assert "submit by the node" in out and "accepted in tx 0x" in out
    assert f"epoch                    {chain.single_epoch}" in out
    assert f"node                     {int(chain.node, 16)}" in out
    assert f"methods                  {METHODS}" in out and f"work_units_total         {sum(WORK)}" in out
    assert "the class's tiers at block" in out and "agree" in out
    assert out.rstrip().splitlines()[-1].startswith("valid: the proof verifies against")


def test_valid_for_each_item_of_a_relayed_batch(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    relayer = dev_account(RELAYER).address
    for position, epoch in enumerate(chain.batch_epochs, start=1):
        assert _verify(chain, epoch) == 0
        out = capsys.readouterr().out
        assert f"submitBatch item {position} of 2, relayed by {relayer}" in out
        assert out.rstrip().splitlines()[-1].startswith("valid:")


@pytest.mark.parametrize("index", [0, 3, 5])
def test_tampered_inputs_are_invalid(chain: Chain, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(chain, chain.batch_epochs[1], "--tamper-input", str(index)) == 1
    out = capsys.readouterr().out
    assert f"self-test: public input {index} increased by 1" in out
    assert out.rstrip().splitlines()[-1] == "invalid: pairing check failed"


def test_an_epoch_never_accepted_exits_2(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(chain, chain.never_epoch) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecoai verify: error: ") and "never accepted epoch" in err and err.count("\n") == 1
    other = dev_account(BENEFICIARY).address  # a node that never submitted anything
    assert main(["verify", "--onchain", other, str(chain.single_epoch), "--rpc-url", chain.url,
                 "--deployment", str(chain.deployment_file)]) == 2
    assert "never accepted" in capsys.readouterr().err


def test_the_usual_config_file_names_chain_and_deployment(chain: Chain, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "oracle.toml"
    config.write_text(f'[chain]\nrpc_url = "{chain.url}"\ndeployment = "{chain.deployment_file}"\n')
    assert main(["verify", "--onchain", chain.node, str(chain.single_epoch), "--config", str(config)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("(py_ecc)")


@pytest.mark.parametrize("args, message", [
    (["--onchain", "0x1234", "5"], "not a 0x address"),
    (["--onchain", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "five"], "not a decimal integer"),
    (["--onchain", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "5", "--deployment", "/nonexistent/x.json"],
     "does not exist"),
    (["proof.json", "public.json", "--onchain", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "5"], "not several"),
    (["proof.json", "public.json", "--tamper-input", "1"], "only go with --onchain"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecoai verify: error: ") and message in err and err.count("\n") == 1, err


def test_tamper_index_out_of_range_is_bad_input(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(chain, chain.single_epoch, "--tamper-input", "6") == 2
    assert "--tamper-input must be 0..5" in capsys.readouterr().err


def test_an_unreachable_chain_is_one_line(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["verify", "--onchain", chain.node, "1", "--rpc-url", "http://127.0.0.1:9",
                 "--deployment", str(chain.deployment_file)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the chain at http://127.0.0.1:9" in err and err.count("\n") == 1
    assert time.monotonic() - started < 30


def test_the_deployment_file_must_match_the_chain(chain: Chain, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = Deployment.load(chain.deployment_file).to_dict()
    data["chain_id"] = 11155111
    other = Deployment.from_dict(data).save(tmp_path / "sepolia.json")
    assert main(["verify", "--onchain", chain.node, str(chain.single_epoch), "--rpc-url", chain.url,
                 "--deployment", str(other)]) == 2
    assert "chain id 31337" in capsys.readouterr().err


# --- oracle.zk.onchain's pure functions on hand-made transactions (the chain fixture's ABI, no RPC) -------------
def _green(chain: Chain):  # type: ignore[no-untyped-def]
    from web3 import Web3

    return Deployment.load(chain.deployment_file).green_proof(Web3())


def test_decode_rejects_what_cannot_be_rebuilt(chain: Chain) -> None:
    from oracle.zk.onchain import OnchainMismatch, decode_submission

    green = _green(chain)
    proof = list(range(1, 9))
    submit = green.encode_abi("submit", args=[7, 1, 500, 0x21, 99, proof])
    tx = {"hash": b"\x01" * 32, "to": green.address, "from": chain.node, "input": submit}
    sub = decode_submission(green, tx, chain.node, 7)
    assert (sub.function, sub.tier, sub.work, sub.methods, sub.commitment, sub.proof) == ("submit", 1, 500, 0x21,
                                                                                          99, proof)
    assert sub.public_inputs(186_824) == [186_824, 500, 7, int(chain.node, 16), 0x21, 99]
    other = dev_account(RELAYER).address
    with pytest.raises(OnchainMismatch, match="not from node"):
        decode_submission(green, {**tx, "from": other}, chain.node, 7)
    with pytest.raises(OnchainMismatch, match="not GreenProof"):
        decode_submission(green, {**tx, "to": other}, chain.node, 7)
    with pytest.raises(OnchainMismatch, match="submits epoch 7, not 8"):
        decode_submission(green, tx, chain.node, 8)
    batch = green.encode_abi("submitBatch", args=[[(other, 7, 0, 5, 0, 1, proof), (chain.node, 9, 0, 5, 0, 1, proof)]])
    found = decode_submission(green, {**tx, "from": other, "input": batch}, chain.node, 9)
    assert (found.batch_index, found.batch_size, found.sender) == (1, 2, other)
    with pytest.raises(OnchainMismatch, match="no item of its batch of 2"):
        decode_submission(green, {**tx, "input": batch}, chain.node, 7)
    claim = green.encode_abi("claim", args=[])
    with pytest.raises(OnchainMismatch, match="GreenProof.claim, not submit"):
        decode_submission(green, {**tx, "input": claim}, chain.node, 7)
