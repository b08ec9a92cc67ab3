"""Carbon traces, forecasts without look-ahead, scheduler policies vs the optimum, RL table, `ecoai schedule`."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.app.cli import main
from oracle.errors import UsageError
from oracle.schedule import greenest_start
from oracle.schedule.forecast import forecast, forecast_matrix
from oracle.schedule.jobs import Job, format_jobs, generate_jobs, parse_jobs
from oracle.schedule.rl import POLICY_FILE, RLPolicy, load_policy, train_committed
from oracle.schedule.context import Context, ScheduleResult
from oracle.schedule.engine import simulate
from oracle.schedule.optimum import optimum
from oracle.schedule.policies import GreedyForecast, RunNow
from oracle.schedule.trace import DATA_DIR, DEFAULT_TRACE, CarbonTrace, load_trace, parse_trace

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc


@pytest.fixture(scope="module")
def trace() -> CarbonTrace:
    return load_trace()


@pytest.fixture(scope="module")
def july(trace: CarbonTrace) -> CarbonTrace:
    return trace.window(datetime(2020, 6, 20, tzinfo=UTC), datetime(2020, 7, 20, tzinfo=UTC))


def test_committed_trace_is_real_hourly_data_for_three_zones(trace: CarbonTrace) -> None:
    assert trace.zones == ("US-CAL", "US-NE", "US-NW")
    assert trace.hours >= 8784
    known = trace.values[~np.isnan(trace.values)]
    assert 100 < known.min() and known.max() < 900
    interior = 0  # hours missing between a zone's first and last hour: the documented US-NE gaps, not filled
    for row in trace.values:
        idx = np.flatnonzero(~np.isnan(row))
        interior += int(np.isnan(row[idx[0]: idx[-1] + 1]).sum())
    assert interior == 9
    # California's solar dip: midday (20:00 UTC) is greener than night (08:00 UTC) on average
    cal = trace.series("US-CAL")
    hours = np.array([(trace.start + timedelta(hours=i)).hour for i in range(trace.hours)])
    assert np.nanmean(cal[hours == 20]) < 0.85 * np.nanmean(cal[hours == 8])
    prov = (DATA_DIR / "PROVENANCE.md").read_text()
    assert "sha256" in prov and "IPCC" in prov and "EIA-930" in prov


def _load_derive_module():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("derive", ROOT / "scripts" / "derive_carbon_traces.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_derivation_weights_fuels_and_converts_hour_ending_local_time(tmp_path: Path) -> None:
    derive = _load_derive_module()
    assert derive.parse_hour_start_utc("3/8/2020 1 a.m. PST") == datetime(2020, 3, 8, 8, tzinfo=UTC)
    assert derive.parse_hour_start_utc("3/8/2020 3 a.m. PDT") == datetime(2020, 3, 8, 9, tzinfo=UTC)
    # "12 a.m." ends the hour at the start of the day: 23:00-24:00 EST on Dec 31 = 04:00 UTC Jan 1
    assert derive.parse_hour_start_utc("1/1/2020 12 a.m. EST") == datetime(2020, 1, 1, 4, tzinfo=UTC)
    header = ('"Region Code","Timestamp (Hour Ending)","Wind Generation (MWh)","Solar Generation (MWh)",'
              '"Hydro Generation (MWh)","Other Generation (MWh)","Petroleum Generation (MWh)",'
              '"Natural gas Generation (MWh)","Coal Generation (MWh)","Nuclear Generation (MWh)"\n')
    rows = ['CAL,"1/1/2020 1 a.m. PST",0,0,0,0,0,50,50,0\n',   # half gas, half coal
            'CAL,"1/1/2020 2 a.m. PST",100,-5,0,0,0,0,0,0\n',  # wind only (negative solar counts as 0)
            'CAL,"1/1/2020 4 a.m. PST",0,0,0,0,0,0,0,0\n']     # no generation: dropped, and 3 a.m. missing
    wheel = tmp_path / "carbonfootprint-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("carbonfootprint/dataset/caiso2020/930-data-export-01.csv", "\ufeff" + header + "".join(rows))
    out, gaps = derive.derive(wheel, {"caiso2020": "US-CAL"})
    assert out[0] == ("2020-01-01T08:00:00Z", "US-CAL", pytest.approx((490 + 820) / 2))
    assert out[1] == ("2020-01-01T09:00:00Z", "US-CAL", 11.0)
    assert len(out) == 2 and gaps == {}  # trailing dropped hour leaves no interior gap


def test_forecast_uses_only_the_past() -> None:
    rng = np.random.default_rng(0)
    y = 300 + 50 * np.sin(np.arange(24 * 20) * 2 * np.pi / 24) + rng.normal(0, 5, 24 * 20)
    f = forecast_matrix(y, 30)
    for t in (1, 25, 200, 400):
        assert np.allclose(f[t], forecast(y[:t], 30), equal_nan=True)
        changed = y.copy()
        changed[t:] += 1000.0  # the future changes; the forecast made at t must not
        assert np.allclose(forecast_matrix(changed, 30)[t], f[t], equal_nan=True)
    # on a clean daily cycle the forecast is close to the truth
    assert np.nanmean(np.abs(f[300:400, 5] - y[305:405])) < 15


def test_greenest_start_picks_the_lowest_window() -> None:
    t0 = datetime(2020, 7, 1, tzinfo=UTC)
    values = [400, 380, 200, 210, 390, 100, 500]
    assert greenest_start(t0, values, t0, t0 + timedelta(hours=7), 2) == t0 + timedelta(hours=2)
    assert greenest_start(t0, values, t0, t0 + timedelta(hours=7), 1) == t0 + timedelta(hours=5)
    # the deadline cuts the dip off
    assert greenest_start(t0, values, t0, t0 + timedelta(hours=4), 2) == t0 + timedelta(hours=2)
    # no room to defer: now
    assert greenest_start(t0, values, t0, t0 + timedelta(hours=2), 2) == t0
    # mid-hour now: never earlier than now
    now = t0 + timedelta(minutes=30)
    assert greenest_start(t0, values, now, t0 + timedelta(hours=7), 1) == t0 + timedelta(hours=5)
    with pytest.raises(UsageError):
        greenest_start(t0, values, t0, t0 + timedelta(hours=7), 0)


def _check_capacity(result: ScheduleResult, jobs: list[Job], capacity: int) -> None:
    by_id = {j.id: j for j in jobs}
    load: dict[tuple[str, datetime], int] = {}
    for p in result.placements:
        assert p.zone in by_id[p.job_id].zones
        assert p.start >= by_id[p.job_id].earliest
        for h in range(by_id[p.job_id].duration_h):
            key = (p.zone, p.start + timedelta(hours=h))
            load[key] = load.get(key, 0) + 1
    assert max(load.values()) <= capacity


@pytest.mark.parametrize("capacity", [None, 2])
def test_policies_meet_deadlines_and_the_optimum_bounds_them(july: CarbonTrace, capacity: int | None) -> None:
    jobs = generate_jobs(july, july.zones, seed=5, every_h=4.0, multi_zone=True)
    ctx = Context(july, jobs)
    table = load_policy()
    results = {p.name: simulate(july, jobs, p, capacity, ctx) for p in (RunNow(), GreedyForecast(), RLPolicy(table))}
    best = optimum(july, jobs, capacity, ctx)
    for r in [*results.values(), best]:
        assert len(r.placements) == len(jobs)
        assert r.deadline_misses == 0
        assert best.carbon_kg <= r.carbon_kg + 1e-9
        if capacity is not None:
            _check_capacity(r, jobs, capacity)
    base = results["run-now"].carbon_kg
    assert best.carbon_kg < base
    # RL on forecasts keeps most of the optimum's saving here (bench/scheduler.py reports full years)
    assert base - results["rl"].carbon_kg > 0.6 * (base - best.carbon_kg)


def _policies() -> list:  # type: ignore[type-arg]
    return [RunNow(), GreedyForecast(), RLPolicy(load_policy())]


def test_tight_batch_instance_has_no_misses_under_capacity(july: CarbonTrace) -> None:
    # 12 h of work in a 12 h horizon at capacity 1: feasible only back to back in deadline order. The
    # greedy's green window and the RL's waiting must give way (the former engine missed one deadline here).
    ne = july.select(("US-NE",))
    t0 = datetime(2020, 7, 6, tzinfo=UTC)
    spec = [(4, 12), (3, 12), (2, 8), (2, 6), (1, 3)]  # (duration h, deadline h after t0)
    jobs = [Job(f"b{i}", t0, t0 + timedelta(hours=dl), d, 1.0 + i, ("US-NE",)) for i, (d, dl) in enumerate(spec)]
    ctx = Context(ne, jobs)
    assert optimum(ne, jobs, 1, ctx).deadline_misses == 0
    for policy in _policies():
        r = simulate(ne, jobs, policy, 1, ctx)
        assert (r.deadline_misses, r.refused) == (0, 0), policy.name
        _check_capacity(r, jobs, 1)
    one_more = [*jobs, Job("x", t0, t0 + timedelta(hours=12), 1, 1.0, ("US-NE",))]  # 13 h of work: infeasible
    with pytest.raises(UsageError, match="no schedule meets every deadline"):
        optimum(ne, one_more, 1)
    r = simulate(ne, one_more, RunNow(), 1)
    assert r.deadline_misses == r.refused == 1  # reported as refused on arrival, the others still on time


def test_tight_online_instance_has_no_misses_under_capacity(july: CarbonTrace) -> None:
    # a job every 2 h on average at 2 per zone (the former engine: greedy 16 misses, RL 6)
    ne = july.select(("US-NE",))
    jobs = generate_jobs(ne, ("US-NE",), seed=0, every_h=2.0)
    ctx = Context(ne, jobs)
    best = optimum(ne, jobs, 2, ctx)
    for policy in _policies():
        r = simulate(ne, jobs, policy, 2, ctx)
        assert (r.deadline_misses, r.refused) == (0, 0), policy.name
        _check_capacity(r, jobs, 2)
        assert best.carbon_kg <= r.carbon_kg + 1e-9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), capacity=st.integers(1, 2), batch=st.booleans())
def test_admitted_jobs_never_miss(july: CarbonTrace, data: st.DataObject, capacity: int, batch: bool) -> None:
    """Any instance: capacity holds and only jobs refused on arrival miss; when every job is known at the
    first hour (batch) and the optimum meets every deadline, no policy misses one."""
    t0 = datetime(2020, 7, 6, tzinfo=UTC)
    jobs = []
    for i in range(data.draw(st.integers(2, 9), label="jobs")):
        submit = 0 if batch else data.draw(st.integers(0, 24), label="submit")
        d = data.draw(st.integers(1, 4), label="duration")
        slack = data.draw(st.integers(0, 10), label="slack")
        zones = data.draw(st.sampled_from([("US-NE",), ("US-NW",), ("US-NE", "US-NW")]), label="zones")
        jobs.append(Job(f"h{i}", t0 + timedelta(hours=submit), t0 + timedelta(hours=submit + d + slack), d,
                        1.0, zones))
    ctx = Context(july, jobs)
    try:
        feasible = optimum(july, jobs, capacity, ctx).deadline_misses == 0
    except UsageError:
        feasible = False
    for policy in _policies():
        r = simulate(july, jobs, policy, capacity, ctx)
        _check_capacity(r, jobs, capacity)
        assert r.deadline_misses == r.refused
        if batch and feasible:
            assert r.deadline_misses == 0, policy.name


def test_committed_rl_table_is_reproduced(trace: CarbonTrace) -> None:
    committed = json.loads(POLICY_FILE.read_text())
    fresh = train_committed(trace).to_json()
    assert fresh["visits"] == committed["visits"]
    assert np.allclose(np.array(fresh["q_start"], dtype=float), np.array(committed["q_start"], dtype=float))
    assert np.allclose(np.array(fresh["q_wait"], dtype=float), np.array(committed["q_wait"], dtype=float))
    assert committed["meta"]["held_out"] == "US-NE"


def test_schedule_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text((DATA_DIR / "sample_jobs.csv").read_text())
    assert main(["schedule", "--trace", str(DEFAULT_TRACE), "--jobs", str(jobs), "--json", "--capacity", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["baselines"]) == {"rl", "run-now", "greedy", "optimum"}
    assert len(out["plan"]) == len(parse_jobs(jobs.read_text()))
    assert out["deadline_misses"] == 0
    assert out["baselines"]["optimum"]["carbon_kg"] <= min(b["carbon_kg"] for b in out["baselines"].values())
    assert main(["schedule", "--jobs", str(jobs)]) == 0
    assert "run-now" in capsys.readouterr().out


def test_schedule_cli_reports_an_infeasible_instance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("id,submit,deadline,duration_h,power_kw,zones\n"
                    "a,2020-07-06T00:00:00Z,2020-07-06T02:00:00Z,2,1,US-NE\n"
                    "b,2020-07-06T00:00:00Z,2020-07-06T02:00:00Z,2,1,US-NE\n"
                    "c,2020-07-06T00:00:00Z,2020-07-06T09:00:00Z,3,2,US-NE|US-NW\n")
    assert main(["schedule", "--jobs", str(jobs), "--capacity", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "no schedule meets every deadline" in out["optimum_infeasible"]
    assert "optimum" not in out["baselines"]
    for name in ("rl", "run-now", "greedy"):  # a and b cannot both finish by 02:00: exactly one refused
        assert out["baselines"][name]["deadline_misses"] == out["baselines"][name]["refused_on_arrival"] == 1
    assert [p["id"] for p in out["plan"] if p["missed_deadline"]] == ["b"]


HEADER = "id,submit,deadline,duration_h,power_kw,zones\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty jobs file"),
        (HEADER, "no jobs"),
        (HEADER.strip() + ",priority\n", "unknown: priority"),
        (HEADER + "a,2020-07-01T00:00Z,2020-07-01T02:00Z,3,1,US-NE\n", "cannot finish by its deadline"),
        (HEADER + "a,2020-07-01T00:00Z,2020-07-01T08:00Z,1.5,1,US-NE\n", "whole number of hours"),
        (HEADER + "a,yesterday,2020-07-01T08:00Z,1,1,US-NE\n", "not an ISO 8601 timestamp"),
        (HEADER + "a,2020-07-01T00:00Z,2020-07-01T08:00Z,1,1,MARS\n", "zone 'MARS' is not in the trace"),
        (HEADER + "a,2030-07-01T00:00Z,2030-07-01T08:00Z,1,1,US-NE\n", "outside the trace"),
    ],
)
def test_schedule_cli_bad_jobs_exit_2(content: str, message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "jobs.csv"
    f.write_text(content)
    assert main(["schedule", "--jobs", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_traces_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="columns must be"):
        parse_trace("timestamp,zone,gco2\n")
    with pytest.raises(UsageError, match="hour starts"):
        parse_trace("timestamp,zone,carbon_g_per_kwh\n2020-01-01T00:30:00Z,X,100\n")
    with pytest.raises(UsageError, match="empty trace"):
        parse_trace("timestamp,zone,carbon_g_per_kwh\n")
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(format_jobs([Job("a", datetime(2020, 7, 1, tzinfo=UTC), datetime(2020, 7, 1, 8, tzinfo=UTC),
                                     1, 1.0, ("US-NE",))]))
    assert main(["schedule", "--trace", str(tmp_path / "none.csv"), "--jobs", str(jobs)]) == 2
    assert "trace file not found" in capsys.readouterr().err
