"""Short fuzz campaign: 1,000 mutated v2 submissions (eth_call) and 30 as real transactions against the deployed
contracts on anvil, from ten real proofs; none is accepted beyond the valid originals (full size:
bench/faults.py fuzz)."""

from __future__ import annotations

import pytest

import campaign_fuzz

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_no_mutated_submission_is_accepted(tmp_path, report) -> None:
    result = campaign_fuzz.campaign(tmp_path, count=1_000, tx_sample=30, budget_s=300)
    report(result)
    f = result.figures
    assert f["control_valid_calls_answered_success"].split("/")[0] == f["control_valid_calls_answered_success"].split("/")[1]
    assert f["accepted_beyond_valid_originals"] == 0, result.failures[:10]
    assert f["valid_originals_accepted_on_chain"] == f["valid_originals"] == 10
    assert result.ok, result.failures[:10]
    # Every family ran (the mutations reach every check, not one early revert).
    assert len(f["by_family"]) == 11
