"""Short RPC-fault campaign: a real node behind an endpoint that drops, delays, errors and lies (absurd fees and
gas, forged and "reverted" receipts, a stale head) for one round; it never sends above its fee caps, keeps its
data and drains its queue once the endpoint heals (full size: bench/faults.py rpc)."""

from __future__ import annotations

import pytest

import campaign_rpc

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_a_faulty_endpoint_gets_nothing_unsafe_and_the_node_recovers(tmp_path, report) -> None:
    result = campaign_rpc.campaign(tmp_path, rounds=1, window_s=6.0, heal_s=6.0, budget_s=420)
    report(result)
    f = result.figures
    assert f["max_fee_per_gas_sent_gwei"] <= campaign_rpc.MAX_FEE_GWEI
    assert f["epochs_accepted_on_chain"] >= 2
    assert result.ok, result.failures
