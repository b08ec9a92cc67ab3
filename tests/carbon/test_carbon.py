"""Carbon table, `ecoai report` (carbon, the Eco Score of the work done from a real measurement store, CodeCarbon
CSV, bad input) and Electricity Maps."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.carbon.intensity import lookup, regions, world
from oracle.chain.deploy import load_params
from oracle.measure import Sampler
from oracle.measure.reading import Reading, WorkReading
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


# The documented example (docs/eco-score.md): class H200/encoder-bf16/item, two epochs of 6,400 items at
# 149,172 and 186,824 µJ/item -> Eco Score 95.66. Energies are whole mJ in the store: 149,172 × 6.4 = 954,700.8.
CLASS_ID = "H200/encoder-bf16/item"
BETA = 3_872_334
DOC_EPOCHS = [(7, 954_701, 6_400), (8, 1_195_674, 6_400)]
T0 = 1_800_000_000.0
EPOCH_S = 60.0
DEVICE, COUNTER = "gpu:0", "work:serve"


def write_store(db: Path, epochs: list[tuple[int, int, int | None]], unit: str = "item",
                work_cover: float = 1.0) -> Path:
    """A measurement store written with the project's Store: per (epoch, energy mJ, work units) one NVML reading
    and one work reading over the epoch (work None: no work reading; work_cover < 1: the work reading covers only
    that share of the epoch, the rest is a work gap), then the epoch closed with `record_epoch`."""
    with Store(db) as store:
        for k, (epoch, energy_mj, work) in enumerate(epochs):
            t0 = T0 + k * EPOCH_S
            t1 = t0 + EPOCH_S
            items: list = [Reading(t0, t1, DEVICE, "nvml", "energy_counter", "measured", float(energy_mj))]
            if work is not None:
                items.append(WorkReading(t0, t0 + work_cover * EPOCH_S, COUNTER, "work", "measured", unit, work))
            store.append(items)
            store.record_epoch(epoch, t0, t1, devices=[DEVICE], work_counters=[COUNTER], work_unit=unit)
    return db


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run_cli(capsys, "report", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_shipped_class_is_the_documented_one():
    cls = load_params().classes[CLASS_ID]
    assert (cls.baseline_uj_per_unit, cls.unit) == (BETA, "item")


def test_documented_example_through_report_epochs(capsys, tmp_path: Path):
    db = write_store(tmp_path / "m.sqlite", DOC_EPOCHS)
    report = report_json(capsys, "--epochs", "7-8", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert report["eco_score"] == 95.66
    assert (report["class_id"], report["baseline_uj_per_unit"], report["work_unit"]) == (CLASS_ID, BETA, "item")
    assert report["work_units"] == 12_800
    # η = 1000 · Σ energy_mJ / Σ W, µJ per item
    assert report["efficiency_uj_per_unit"] == pytest.approx(1000 * (954_701 + 1_195_674) / 12_800)
    per_epoch = {e["epoch"]: e for e in report["per_epoch"]}
    assert per_epoch[7]["efficiency_uj_per_unit"] == pytest.approx(149_172.03, abs=0.01)
    assert per_epoch[8]["efficiency_uj_per_unit"] == pytest.approx(186_824.06, abs=0.01)
    assert (per_epoch[7]["eco_score"], per_epoch[8]["eco_score"]) == (96.15, 95.18)
    assert report["no_work_epochs"] == [] and report["work_gap_epochs"] == [] and report["incomplete_epochs"] == []
    # carbon stays energy × grid intensity
    kwh = (954_701 + 1_195_674) / 3.6e9
    assert report["energy_kwh"] == pytest.approx(kwh) and report["carbon_kg"] == pytest.approx(kwh * 430.567 / 1000)
    # the same β given explicitly, or as the node config's class
    explicit = report_json(capsys, "--epochs", "all", "--region", "KR", "--db", str(db),
                           "--baseline-uj-per-unit", str(BETA))
    assert explicit["eco_score"] == 95.66 and explicit["class_id"] is None and explicit["work_unit"] == "item"
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\nclass_id = "{CLASS_ID}"\n')
    from_config = report_json(capsys, "--epochs", "7,8", "--region", "KR", "--db", str(db), "--config", str(config))
    assert from_config["eco_score"] == 95.66 and from_config["class_id"] == CLASS_ID
    code, out, _ = run_cli(capsys, "report", "--epochs", "7-8", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert code == 0 and "eco score   95.66 / 100" in out and "12,800 items" in out


def test_epochs_without_work_get_no_score(capsys, tmp_path: Path):
    # an idle GPU: energy, no work (a zero-work reading, and an epoch closed with no work reading at all)
    db = write_store(tmp_path / "m.sqlite", [(1, 500_000, 0), (2, 500_000, None)])
    report = report_json(capsys, "--epochs", "all", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert report["eco_score"] is None and "no work, no score" in report["eco_score_note"]
    assert report["no_work_epochs"] == [1, 2] and report["work_units"] == 0
    assert report["efficiency_uj_per_unit"] is None
    assert [e["eco_score"] for e in report["per_epoch"]] == [None, None]
    assert report["carbon_kg"] > 0  # the energy is still in the carbon
    code, out, _ = run_cli(capsys, "report", "--epochs", "all", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert code == 0 and "eco score   -  (no work, no score" in out


def test_idle_epoch_is_listed_and_not_scored_next_to_worked_ones(capsys, tmp_path: Path):
    db = write_store(tmp_path / "m.sqlite", [*DOC_EPOCHS, (9, 9_000_000, 0)])
    report = report_json(capsys, "--epochs", "7-9", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert report["eco_score"] == 95.66 and report["no_work_epochs"] == [9]
    assert report["per_epoch"][2] == {"epoch": 9, "energy_mj": 9_000_000, "work_units": 0,
                                      "efficiency_uj_per_unit": None, "eco_score": None}


def test_epochs_with_work_gaps_are_listed(capsys, tmp_path: Path):
    db = write_store(tmp_path / "m.sqlite", [(4, 954_701, 6_400)], work_cover=0.5)  # counter read for half the epoch
    report = report_json(capsys, "--epochs", "4", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert report["work_gap_epochs"] == [4] and report["incomplete_epochs"] == []
    assert report["work_units"] == 6_400 and report["eco_score"] == 96.15
    code, out, _ = run_cli(capsys, "report", "--epochs", "4", "--region", "KR", "--db", str(db), "--class", CLASS_ID)
    assert code == 0 and "epochs with work gaps (work is a lower bound): [4]" in out


def test_epochs_without_a_baseline_report_efficiency_and_say_what_to_pass(capsys, tmp_path: Path):
    db = write_store(tmp_path / "m.sqlite", DOC_EPOCHS)
    report = report_json(capsys, "--epochs", "all", "--region", "KR", "--db", str(db))
    assert report["eco_score"] is None and report["baseline_uj_per_unit"] is None
    assert "--class CLASS_ID" in report["eco_score_note"] and "--baseline-uj-per-unit" in report["eco_score_note"]
    assert report["efficiency_uj_per_unit"] == pytest.approx(1000 * (954_701 + 1_195_674) / 12_800)


def test_more_energy_for_the_same_work_never_scores_higher(capsys, tmp_path: Path):
    scores = []
    for kwh in (0.0, 0.0001, 0.001, 0.005, 0.01, 0.0107, 0.02, 1.0):
        r = report_json(capsys, "--energy-kwh", str(kwh), "--region", "KR", "--work", "10000", "--class", CLASS_ID)
        scores.append(r["eco_score"])
    assert scores[0] == 100.0 and scores[-1] == 0.0
    assert all(a >= b for a, b in zip(scores, scores[1:])), scores
    assert all(a > b for a, b in zip(scores[:5], scores[1:6])), scores  # strictly below the baseline
    # the same through recorded epochs: one epoch uses more energy for the same work
    low = write_store(tmp_path / "low.sqlite", DOC_EPOCHS)
    high = write_store(tmp_path / "high.sqlite", [DOC_EPOCHS[0], (8, 2 * 1_195_674, 6_400)])
    s_low, s_high = (report_json(capsys, "--epochs", "all", "--region", "KR", "--db", str(db), "--class",
                                 CLASS_ID)["eco_score"] for db in (low, high))
    assert s_high < s_low == 95.66


def test_energy_kwh_with_work_and_a_class(capsys):
    # 0.01 kWh for 10,000 items: η = 3.6e12 µJ/kWh × 0.01 / 10,000 = 3,600,000 µJ/item; 100 × (1 − 3.6e6/β)
    report = report_json(capsys, "--energy-kwh", "0.01", "--region", "KR", "--work", "10000", "--class", CLASS_ID)
    assert report["efficiency_uj_per_unit"] == pytest.approx(3_600_000)
    assert report["eco_score"] == round(100 * (1 - 3_600_000 / BETA), 2) == 7.03
    assert (report["class_id"], report["work_units"], report["work_unit"]) == (CLASS_ID, 10_000, "item")
    assert report["carbon_kg"] == pytest.approx(0.01 * 430.567 / 1000)
    explicit = report_json(capsys, "--energy-kwh", "0.01", "--region", "KR", "--work", "10000",
                           "--baseline-uj-per-unit", "7200000")
    assert explicit["eco_score"] == 50.0 and explicit["class_id"] is None and explicit["work_unit"] is None
    assert report_json(capsys, "--energy-kwh", "1", "--region", "KR", "--work", "10",
                       "--class", CLASS_ID)["eco_score"] == 0.0  # far above the baseline: 0, never negative


def test_energy_kwh_without_work_gives_carbon_and_no_score(capsys):
    report = report_json(capsys, "--energy-kwh", "4.2", "--region", "KR")
    assert report["carbon_kg"] == pytest.approx(4.2 * 430.567 / 1000)
    assert round(report["carbon_kg"], 2) == 1.81
    assert {"energy_kwh", "carbon_kg", "intensity_g_per_kwh", "region", "source", "eco_score"} <= set(report)
    assert "location-based" in report["source"] and "2023" in report["source"]
    assert report["eco_score"] is None and report["efficiency_uj_per_unit"] is None
    assert "--work W" in report["eco_score_note"] and "--class CLASS_ID" in report["eco_score_note"]
    with_class = report_json(capsys, "--energy-kwh", "4.2", "--region", "KR", "--class", CLASS_ID)
    assert with_class["eco_score"] is None and with_class["baseline_uj_per_unit"] == BETA
    assert "--work W" in with_class["eco_score_note"]
    zero = report_json(capsys, "--energy-kwh", "4.2", "--region", "KR", "--work", "0", "--class", CLASS_ID)
    assert zero["eco_score"] is None and "no work, no score" in zero["eco_score_note"]
    no_beta = report_json(capsys, "--energy-kwh", "4.2", "--region", "KR", "--work", "100")
    assert no_beta["eco_score"] is None and no_beta["efficiency_uj_per_unit"] == pytest.approx(4.2 * 3.6e12 / 100)
    assert "--class CLASS_ID or --baseline-uj-per-unit B" in no_beta["eco_score_note"]


@pytest.mark.parametrize("argv, message", [
    (["report", "--energy-kwh", "1", "--region", "XX"], "unknown region 'XX'"),
    (["report", "--energy-kwh", "-4.2", "--region", "KR"], "argument --energy-kwh: expected a number >= 0"),
    (["report", "--energy-kwh", "abc", "--region", "KR"], "argument --energy-kwh: expected a number, got 'abc'"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--work", "-1"], "argument --work: expected an integer >= 0"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--work", "2.5"], "argument --work: expected a decimal integer"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--baseline-uj-per-unit", "0"],
     "argument --baseline-uj-per-unit: expected a number > 0"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--class", CLASS_ID, "--baseline-uj-per-unit", "5"],
     "argument --baseline-uj-per-unit: not allowed with argument --class"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--work", "5", "--class", "H200/nope/item"],
     "efficiency class 'H200/nope/item' is not in the deployment parameters"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--class", CLASS_ID, "--params", "/nonexistent/p.toml"],
     "deploy params: /nonexistent/p.toml does not exist"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--hours", "24"], "unrecognized arguments: --hours 24"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--quality", "0.9"], "unrecognized arguments: --quality"),
    (["report", "--energy-kwh", "1", "--region", "KR", "--hardware-class", "H200"],
     "unrecognized arguments: --hardware-class"),
    (["report", "--epochs", "all", "--region", "KR", "--work", "5"], "--work goes with --energy-kwh"),
    (["measure", "--seconds", "1", "--source", "replay:/nonexistent/trace.csv"], "cannot read trace"),
    (["measure", "--seconds", "-1"], "argument --seconds: expected a number > 0"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def _one_line_error(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, "report", *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (code, out, err)
    return err


def test_bad_class_or_store_inputs_exit_2_with_one_line(capsys, tmp_path: Path):
    tokens = write_store(tmp_path / "tokens.sqlite", [(1, 1000, 50)], unit="token")
    assert "the epochs count work in 'token' but efficiency class 'H200/encoder-bf16/item' is per 'item'" in \
        _one_line_error(capsys, "--epochs", "all", "--region", "KR", "--db", str(tokens), "--class", CLASS_ID)
    mixed = write_store(tmp_path / "mixed.sqlite", [(1, 1000, 50)], unit="token")
    with Store(mixed) as store:  # a second epoch counting another unit
        t0 = T0 + EPOCH_S
        store.append([Reading(t0, t0 + EPOCH_S, DEVICE, "nvml", "energy_counter", "measured", 1000.0),
                      WorkReading(t0, t0 + EPOCH_S, "work:img", "work", "measured", "image", 5)])
        store.record_epoch(2, t0, t0 + EPOCH_S, devices=[DEVICE], work_counters=["work:img"], work_unit="image")
    assert "different units (image, token)" in _one_line_error(
        capsys, "--epochs", "all", "--region", "KR", "--db", str(mixed), "--baseline-uj-per-unit", "100")
    config = tmp_path / "node.toml"
    config.write_text('[node]\nregion = "KR"\n')
    assert "node.class_id is not set" in _one_line_error(
        capsys, "--energy-kwh", "1", "--region", "KR", "--work", "5", "--config", str(config))
    assert "no measurement store at" in _one_line_error(
        capsys, "--epochs", "all", "--region", "KR", "--db", str(tmp_path / "none.sqlite"))
    assert "no recorded epochs match '5-6'" in _one_line_error(
        capsys, "--epochs", "5-6", "--region", "KR", "--db", str(tokens))


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
