"""`ecoai measure`: the headline never adds measured, estimated and replayed energy together."""

from __future__ import annotations

import json

import pytest

from oracle.app.cli import main
from oracle.measure.reading import Gap, Reading
from oracle.measure.summary import headline, summarise


def _reading(kind: str, device: str, energy_mj: float, t: float = 0.0) -> Reading:
    source = {"measured": "rapl", "estimated": "cpu", "replayed": "replay"}[kind]
    return Reading(t, t + 1.0, device, source, "m", kind, energy_mj)  # type: ignore[arg-type]


def test_summary_totals_one_per_kind_never_their_sum() -> None:
    # The reported case: no GPU, the CPU estimate beside the replayed H200 trace.
    items = [_reading("estimated", "cpu", 103_800.0), _reading("replayed", "h200-trace", 500_000.0),
             _reading("replayed", "h200-trace", 95_800.0, t=1.0), Gap(2.0, 3.0, "cpu", "cpu", "psutil failed")]
    summary = summarise(items, 0.0, 10.0)
    assert summary["energy_j_by_kind"] == {"measured": 0.0, "estimated": 103.8, "replayed": 595.8}
    assert "energy_j" not in summary  # no mixed total to misread
    line = headline(summary)
    assert line == "10.0 s on 2 devices: measured 0.0 J · estimated 103.8 J · replayed 595.8 J"
    assert "699.6" not in line and "in total" not in line


def test_one_device_is_singular() -> None:
    summary = summarise([_reading("measured", "gpu0", 2_000.0)], 0.0, 1.0)
    assert headline(summary) == "1.0 s on 1 device: measured 2.0 J · estimated 0.0 J · replayed 0.0 J"


def test_measure_prints_a_total_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--seconds", "1", "--source", "replay", "--source", "cpu", "--hz", "5"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "in total" not in out
    assert "on 2 devices: measured 0.0 J · estimated " in first and " · replayed " in first
    lines = out.splitlines()[1:]
    assert any("estimated via cpu/" in line for line in lines) and any("replayed via replay/" in line
                                                                          for line in lines)


def test_measure_json_has_keys_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--seconds", "20", "--source", "replay", "--fast", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    by_kind = summary["energy_j_by_kind"]
    assert set(by_kind) == {"measured", "estimated", "replayed"} and "energy_j" not in summary
    assert by_kind["measured"] == 0 and by_kind["estimated"] == 0 and 2_000 < by_kind["replayed"] < 3_200
    assert by_kind["replayed"] == pytest.approx(sum(d["energy_j"] for d in summary["devices"]), abs=0.01)
