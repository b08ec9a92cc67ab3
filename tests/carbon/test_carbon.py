"""Carbon table, Eco Score, `ecoai report` (seed example, CodeCarbon CSV, bad input) and Electricity Maps."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from oracle.carbon.ecoscore import eco_score
from oracle.carbon.intensity import lookup, regions, world
from oracle.app.cli import main
from oracle.measure import Sampler
from oracle.measure.replay import ReplaySource
from oracle.measure.store import Store

# CodeCarbon 3.3.2 emissions.csv header (codecarbon/output_methods/emissions_data.py, field order).
CODECARBON_COLUMNS = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,"
    "cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,region,"
    "cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,"
    "longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue").split(",")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_rows_have_source_year_and_known_regions():
    rows = regions()
    assert len(rows) > 300 and {r.kind for r in rows} == {"country", "aws", "gcp", "azure", "world"}
    assert all(r.source and 1990 < r.year < 2100 and r.year_basis in ("data", "published") for r in rows)
    assert lookup("kr") == lookup("KOR") and lookup("KR").g_per_kwh == pytest.approx(430.567)
    assert lookup("aws:us-east-1").kind == "aws" and lookup("AZURE:koreacentral").kind == "azure"
    assert 400 < world().g_per_kwh < 550


def test_eco_score_is_monotone_in_each_input():
    base = dict(energy_kwh=4.2, hours=24, intensity_g_per_kwh=430.0, quality=0.98, reference_power_w=700,
                reference_intensity_g_per_kwh=480.0)
    s = eco_score(**base).score
    for key, higher_is_better in (("energy_kwh", False), ("intensity_g_per_kwh", False), ("quality", True)):
        for factor in (0.5, 0.9, 1.02, 3.0, 20.0):
            other = dict(base, **{key: min(1.0, base[key] * factor) if key == "quality" else base[key] * factor})
            o = eco_score(**other).score
            if other[key] == base[key]:
                continue
            better = (other[key] > base[key]) == higher_is_better
            assert (o > s) if better else (o < s), (key, factor, o, s)
    assert eco_score(**dict(base, energy_kwh=0)).score == 98.0
    assert eco_score(**dict(base, energy_kwh=1e6)).score > 0


def test_seed_example_via_cli(capsys):
    code, out, _ = run_cli(capsys, "report", "--energy-kwh", "4.2", "--region", "KR", "--hours", "24", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["carbon_kg"] == pytest.approx(1.8, abs=0.05)
    assert abs(report["eco_score"] - 87) <= 2
    assert {"energy_kwh", "carbon_kg", "intensity_g_per_kwh", "region", "source", "eco_score"} <= set(report)
    assert "location-based" in report["source"] and "2023" in report["source"]
    code, out, _ = run_cli(capsys, "report", "--energy-kwh", "4.2", "--region", "KR", "--hours", "24",
                           "--quality", "0.98", "--json")  # the documented INT8 batch-8 example
    assert code == 0 and json.loads(out)["eco_score"] == pytest.approx(87.0, abs=0.5)


@pytest.mark.parametrize("argv, message", [
    (["report", "--energy-kwh", "1", "--region", "XX"], "unknown region 'XX'"),
    (["report", "--energy-kwh", "-4.2", "--region", "KR"], "argument --energy-kwh: expected a number >= 0"),
    (["report", "--energy-kwh", "abc", "--region", "KR"], "argument --energy-kwh: expected a number, got 'abc'"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--quality", "1.5"], "quality retained must be between"),
    (["measure", "--seconds", "1", "--source", "replay:/nonexistent/trace.csv"], "cannot read trace"),
    (["measure", "--seconds", "-1"], "argument --seconds: expected a number > 0"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_unreadable_trace_file_exits_2(capsys, tmp_path: Path):
    bad = tmp_path / "trace.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run_cli(capsys, "measure", "--seconds", "1", "--source", f"replay:{bad}", "--fast")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "trace" in err


def test_measure_fast_replay_stores_and_plots(capsys, tmp_path: Path, ecoai_home: Path):
    png = tmp_path / "power.png"
    code, out, _ = run_cli(capsys, "measure", "--seconds", "20", "--source", "replay", "--fast", "--json",
                           "--plot", str(png))
    summary = json.loads(out)
    assert code == 0 and summary["devices"][0]["kinds"] == ["replayed"]
    assert 2_000 < summary["energy_j_by_kind"]["replayed"] < 3_200 and summary["gaps"] == []
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(summary["store"]).parent == ecoai_home


def test_report_epochs_writes_codecarbon_csv(capsys, tmp_path: Path):
    db = tmp_path / "m.sqlite"
    with Store(db) as store:
        src = ReplaySource()
        sampler = Sampler([src], sinks=[store.sink])
        t0 = 1_800_000_000.0
        sampler.run(10.0, realtime=False, start=t0)
        for k in range(2):
            store.record_epoch(100 + k, t0 + 5 * k, t0 + 5 * (k + 1), devices=src.devices())
        total_mj = sum(e.total_mj for e in store.epochs())
    out_csv = tmp_path / "emissions.csv"
    code, out, _ = run_cli(capsys, "report", "--epochs", "100-101", "--region", "aws:ap-northeast-2",
                           "--db", str(db), "--csv", str(out_csv), "--json")
    report = json.loads(out)
    assert code == 0 and report["epochs"] == [100, 101] and report["by_kind_mj"] == {"replayed": total_mj}
    with open(out_csv, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == CODECARBON_COLUMNS and len(rows) == 2
    assert sum(float(r["energy_consumed"]) for r in rows) == pytest.approx(total_mj / 3.6e9)
    assert float(rows[0]["emissions"]) == pytest.approx(float(rows[0]["energy_consumed"]) * 415.6 / 1000)
    assert rows[0]["cloud_provider"] == "aws" and rows[0]["duration"] == "5.0" and "replayed" in rows[0]["experiment_id"]


class _FakeElectricityMaps(BaseHTTPRequestHandler):
    """LABELLED FAKE of the Electricity Maps API (external service we cannot reach from tests): answers
    /v3/carbon-intensity/latest in the documented response shape."""

    def do_GET(self) -> None:  # noqa: N802
        ok = self.headers.get("auth-token") == "test-token" and "zone=KR" in self.path
        body = json.dumps({"zone": "KR", "carbonIntensity": 401, "datetime": "2026-11-26T09:00:00.000Z",
                           "updatedAt": "2026-11-26T09:05:00.000Z", "emissionFactorType": "lifecycle",
                           "isEstimated": True} if ok else {"error": "unauthorized"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_live_intensity_from_fake_electricity_maps(capsys, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeElectricityMaps)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "test-token")
        code, out, _ = run_cli(capsys, "report", "--energy-kwh", "2", "--region", "KR", "--live", "--json")
        report = json.loads(out)
        assert code == 0 and report["intensity_g_per_kwh"] == 401 and report["carbon_kg"] == pytest.approx(0.802)
        assert "Electricity Maps" in report["source"] and "location-based" in report["source"]
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "wrong")
        code, _, err = run_cli(capsys, "report", "--energy-kwh", "2", "--region", "KR", "--live")
        assert code == 2 and "HTTP 401" in err
    finally:
        server.shutdown()
        server.server_close()
