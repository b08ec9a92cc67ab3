"""Short kill -9 campaign: a real node (5-s epochs) is killed three times (at the named fault points or a
random moment) and restarted; no reading is lost, no epoch is submitted twice, every accepted epoch is accepted
exactly once (full size, ≥ 50 runs: bench/faults.py kill)."""

from __future__ import annotations

import pytest

import campaign_kill

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_random_kill9_loses_nothing_and_never_double_submits(tmp_path, report) -> None:
    result = campaign_kill.campaign(tmp_path, runs=3, budget_s=300)
    report(result)
    f = result.figures
    assert f["runs"] == 3
    assert f["readings_lost"] == 0
    assert f["epochs_double_submitted"] == 0
    assert f["epochs_accepted_on_chain"] == f["epochs_accepted_exactly_once"] >= 1
    assert result.ok, result.failures
