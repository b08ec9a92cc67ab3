"""Findings of the fault campaign, each a test that fails until fixed (evidence in the campaign's figures).

F1 (fuzz, "Panic(0x11)"): GreenProof answers a far-future epoch (epoch · length past 2^64 s) with an arithmetic
   Panic(0x11) instead of its custom error EpochNotEnded(epoch, currentEpoch): the v2 design says every check
   has its own custom error with context, and the node and relay decode custom errors to decide what to do
   (a Panic decodes as nothing). The view epochBounds(epoch) panics likewise. The submission is
   refused either way (not a safety issue); the answer is wrong."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.chain]

FAR_EPOCH = 2**62  # × 5 s is past 2^64: (epoch − firstEpoch) · length overflows uint64


@pytest.fixture
def admitted(tmp_path):
    from faultlib import JsonRpc
    from nodestack import NodeStack

    with NodeStack(tmp_path) as stack:
        yield stack, JsonRpc(stack.anvil.url)


def test_a_far_future_epoch_is_refused_with_epoch_not_ended_not_a_panic(admitted) -> None:
    from campaign_fuzz import submit_data
    from oracle.chain.governance import error_selectors

    stack, rpc = admitted
    errors = error_selectors(stack.deployment.contracts["GreenProof"].abi)
    green = stack.deployment.address("GreenProof")
    answer = rpc.batch([("eth_call", [{"from": stack.node, "to": green, "gas": hex(3_000_000),
                                       "data": submit_data([FAR_EPOCH, 0, 100, 0x22, 1, *([1] * 8)])}, "latest"])])[0]
    data = (answer.get("error") or {}).get("data", "")
    name = errors.get(data[:10], "Panic(0x11)" if data.startswith("0x4e487b71") else data)
    assert name == "EpochNotEnded", f"submit(epoch=2^62) reverted with {name}"



@pytest.mark.slow
def test_the_node_survives_an_endpoint_answering_errors_and_garbage(tmp_path, report) -> None:
    """F2 (rpc campaign, full run: 6 of 24 windows failed, all "errors"/"drop"/receipt windows with garbage):
    an endpoint answering HTTP 200 with an empty body makes `ecoai oracle run` exit 1 with a traceback
    (json.decoder.JSONDecodeError from oracle/node/chain.py `_rpc` ← block_number ← recheck_accepted ← drain:
    only connection errors are treated as "RPC unavailable"); a JSON-RPC error at start-up (check_connection,
    Web3RPCError 'header not found') exits 1 as well instead of waiting for the endpoint. Expected: the node
    logs "RPC unavailable", backs off and keeps measuring, as it does for a dropped connection."""
    import campaign_rpc

    result = campaign_rpc.campaign(tmp_path, rounds=1, window_s=8.0, heal_s=5.0, budget_s=300,
                                   modes=("errors",), seed=5)
    report(result)
    assert not [f for f in result.failures if "exited" in f or "Traceback" in f], result.failures
