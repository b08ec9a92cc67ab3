"""The node's use of the optimizer (start-up advice) and the scheduler (deferrable submission)."""

from __future__ import annotations

import time

import pytest

from oracle.errors import UsageError
from oracle.node.advice import recommendation_line, shipped_profile
from oracle.node.config import parse_config
from oracle.node.submit_timing import TraceGrid, deferred_send_time
from oracle.node.state import EpochRecord

from .conftest import H200_PROFILE


def test_advice_names_the_recommended_configuration_of_the_h200_profile() -> None:
    line = recommendation_line(str(H200_PROFILE), 0.25)
    assert line is not None and "NVIDIA H200" in line and "less energy per item" in line
    shipped = recommendation_line(hardware_class="H200")  # the optimizer's measured H200 profile, when shipped
    if shipped_profile("H200") is not None:
        assert shipped is not None and "H200" in shipped and shipped_profile("H200").name in shipped
    assert recommendation_line(hardware_class="NOSUCHGPU") is None
    with pytest.raises(UsageError, match="optimize.profile"):
        recommendation_line("/nonexistent/profile.csv")


def _record(epoch: int, seconds: int) -> EpochRecord:
    return EpochRecord(
        node="0xN", epoch=epoch, epoch_seconds=seconds, status="proved", intervals_mj=None, energy_mj=None,
        gaps=None, energy_by_method=None, energy_by_kind=None, tier=0, salt=1, commitment=1,
        proof=[0] * 8, bundle={}, nonce=None, raw_tx=None, tx_hash=None, gas_used=None, block=None, note=None,
        attempts=0,
    )


def test_deferral_stays_within_the_deadline_and_off_by_default() -> None:
    assert deferred_send_time(parse_config({}).submit, 60, 7200) is None
    config = parse_config({"submit": {"max_defer_s": 6 * 3600}})
    send_time = deferred_send_time(config.submit, 60, 7200)
    assert send_time is not None
    now = time.time()
    epoch = int(now // 60) - 1
    chosen = send_time(_record(epoch, 60))
    # maxEpochAge (2 h) caps the 6 h allowance: the proof must still be accepted.
    assert now - 1 <= chosen <= (epoch + 1) * 60 + 7200 - 120
    grid = TraceGrid("US-CAL")
    assert grid.greenest_send_time(now, now - 10) == pytest.approx(now)
    with pytest.raises(UsageError, match="submit.carbon_zone"):
        deferred_send_time(parse_config({"submit": {"max_defer_s": 60, "carbon_zone": "MARS"}}).submit, 60, 7200)
