"""Work meters against real endpoints: a PyTorch inference loop behind prometheus_client's HTTP server, engine presets,
the durable local API, the replayed trace's work, and epochs closing into 64 (energy, work) pairs."""

from __future__ import annotations

import csv
import http.server
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oracle.conventions import N_INTERVALS
from oracle.measure import check_work_spec, open_work_sources
from oracle.measure.counters import CounterReader, interval_boundaries, split_counter_sources
from oracle.measure.epoch import aggregate_work
from oracle.measure.reading import SourceUnavailable, WorkGap, WorkReading, WorkUnitMismatch
from oracle.measure.replay import DEFAULT_TRACE, ReplaySource
from oracle.measure.store import Store
from oracle.measure.work import (LocalWorkSource, PrometheusWorkSource, ReplayWorkSource, WorkCounter,
                                 parse_work_spec)
from oracle.paths import REPO_ROOT

ECOAI = str(REPO_ROOT / ".venv" / "bin" / "ecoai")

prometheus_client = pytest.importorskip("prometheus_client")
torch = pytest.importorskip("torch")


# --- a real workload: tiny PyTorch model serving in a thread, counted by a prometheus_client Counter ------------
class Exporter:
    """prometheus_client's HTTP server on 127.0.0.1 exposing a fresh registry's items counter."""

    def __init__(self, port: int = 0) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        counter = prometheus_client.Counter("ecoai_test_items", "items served by the tiny model", ["model"],
                                            registry=self.registry)
        self.items = counter.labels(model="tiny")  # the series exists (at 0) before the first request
        prometheus_client.Counter("ecoai_test_items_other", "another model", ["model"],
                                  registry=self.registry).labels(model="other").inc(1000)
        self.server, self.thread = prometheus_client.start_http_server(port, "127.0.0.1", registry=self.registry)
        self.port = self.server.server_port

    def value(self) -> float:
        return self.registry.get_sample_value("ecoai_test_items_total", {"model": "tiny"}) or 0.0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Workload:
    """A PyTorch CPU inference loop (2-layer MLP, batches of 4) that counts every item it served."""

    def __init__(self, items: object) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
        self.items = items
        self.served = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        x = torch.randn(4, 32)
        with torch.inference_mode():
            while not self._stop.is_set():
                self.model(x).argmax(dim=1)
                self.items.inc(4)  # type: ignore[attr-defined]
                self.served += 4
                time.sleep(0.001)  # a request stream, not a busy loop: leaves the other core to the test

    def __enter__(self) -> Workload:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    yield exp
    exp.stop()


def _spec(port: int) -> str:
    return f'prometheus:http://127.0.0.1:{port}/metrics#ecoai_test_items_total{{model="tiny"}}@item'


def test_real_pytorch_workload_read_at_boundaries_matches_the_counter(exporter: Exporter, tmp_path: Path):
    [source] = open_work_sources([_spec(exporter.port)])
    assert source.unit == "item" and source.kind == "measured" and source.health() is None
    with Store(tmp_path / "m.sqlite") as store:
        reader = CounterReader([source], sinks=[store.sink])
        t0 = time.time()
        reader.read(t0)  # prime: the counter is at 0 before the workload starts
        with Workload(exporter.items) as work:
            times = [t0]
            for _ in range(8):
                # Progress, not timing: read once the counter has passed what the previous read could see.
                mark = exporter.value()
                while exporter.value() <= mark or time.time() < times[-1] + 0.05:
                    time.sleep(0.01)
                times.append(time.time())
                reader.read(times[-1])
        times.append(time.time())
        reader.read(times[-1])  # after the workload stopped: the last units are counted too
        reader.flush()
        readings = store.work_readings(t0, times[-1] + 1)
        assert [(r.t_start, r.t_end) for r in readings] == list(zip(times, times[1:]))
        assert all(r.units > 0 for r in readings[:-1]) and all(r.unit == "item" for r in readings)
        assert sum(r.units for r in readings) == work.served == exporter.value()
        assert store.work_gaps(t0, times[-1] + 1) == []
        epoch = store.record_epoch(1, t0, times[-1], n=8, work_counters=[source.counter], work_unit="item")
        assert epoch.work_total == work.served == sum(epoch.work_units) and epoch.work_method == "measured"
        assert epoch.work_complete and len(epoch.pairs) == 8


def test_counter_reset_and_endpoint_down_are_gaps_never_negative_or_invented(exporter: Exporter):
    source = PrometheusWorkSource(f"http://127.0.0.1:{exporter.port}/metrics", "ecoai_test_items_total", "item",
                                  parse_work_spec(_spec(exporter.port)).matchers, timeout_s=1.0)
    port = exporter.port
    assert source.sample(0.0) == []
    exporter.items.inc(50)
    [r1] = source.sample(1.0)
    assert isinstance(r1, WorkReading) and r1.units == 50
    exporter.stop()  # the engine restarts: a fresh registry, the counter starts again lower
    restarted = Exporter(port)
    try:
        restarted.items.inc(7)
        [g] = source.sample(2.0)
        assert isinstance(g, WorkGap) and (g.t_start, g.t_end) == (1.0, 2.0) and (
            "backwards" in g.reason or "restarted" in g.reason)
        restarted.items.inc(5)
        [r3] = source.sample(3.0)
        assert isinstance(r3, WorkReading) and r3.units == 5  # continues from the new counter
        restarted.stop()  # the endpoint goes down
        [down] = source.sample(4.0)
        assert isinstance(down, WorkGap) and "not readable" in down.reason and (down.t_start, down.t_end) == (3.0, 4.0)
        assert source.health() is not None
    finally:
        restarted.stop()
    again = Exporter(port)  # back, and its counter even climbed above the old value: the restart still shows
    try:
        again.items.inc(10_000)
        [back] = source.sample(5.0)
        assert isinstance(back, WorkGap) and "readable again" in back.reason
        again.items.inc(3)
        [r6] = source.sample(6.0)
        assert isinstance(r6, WorkReading) and r6.units == 3
    finally:
        again.stop()
    restart_above = Exporter(port)  # a restart whose counter overtakes the old value within one interval
    try:
        restart_above.items.inc(20_000)
        [g2] = source.sample(7.0)
        assert isinstance(g2, WorkGap) and "restarted" in g2.reason  # caught by the series' _created time
    finally:
        restart_above.stop()
    e = aggregate_work([r1, r3, r6], [g, down, back, g2], 0.0, 8.0, n=8, counters=[source.counter])
    assert e["work_units"] == (50, 0, 5, 0, 0, 3, 0, 0) and e["work_total"] == 58  # gaps are not filled
    assert [(x.t_start, x.t_end) for x in e["work_gaps"]] == [(1.0, 2.0), (3.0, 4.0), (4.0, 5.0), (6.0, 7.0),
                                                             (7.0, 8.0)]
    assert e["work_gaps"][-1].reason == "no reading"


# --- engine presets on real-format text (names from each engine's documentation) --------------------------------
# vLLM: docs.vllm.ai "Production Metrics" (vllm:generation_tokens_total counter, model_name label, histograms
# such as vllm:iteration_tokens_total). TGI: huggingface.co/docs/text-generation-inference/reference/metrics
# (tgi_request_generated_tokens histogram, tgi_request_success counter; exported by the Rust metrics crate, so no
# _created). Triton: docs.nvidia.com Triton "Metrics" (nv_inference_count, nv_inference_request_success counters
# with model and version labels).
VLLM = """# HELP vllm:iteration_tokens_total Histogram of number of tokens per engine_step.
# TYPE vllm:iteration_tokens_total histogram
vllm:iteration_tokens_total_sum{{model_name="meta-llama/Llama-3.1-8B-Instruct"}} 99999.0
vllm:iteration_tokens_total_bucket{{le="1.0",model_name="meta-llama/Llama-3.1-8B-Instruct"}} 3.0
vllm:iteration_tokens_total_bucket{{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"}} 9.0
vllm:iteration_tokens_total_count{{model_name="meta-llama/Llama-3.1-8B-Instruct"}} 9.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{{model_name="meta-llama/Llama-3.1-8B-Instruct"}} 8.128902e+06
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{model_name="meta-llama/Llama-3.1-8B-Instruct"}} {tokens}
# HELP vllm:generation_tokens_created Number of generation tokens processed.
# TYPE vllm:generation_tokens_created gauge
vllm:generation_tokens_created{{model_name="meta-llama/Llama-3.1-8B-Instruct"}} 1.7557e+09
"""
TGI = """# TYPE tgi_request_generated_tokens histogram
tgi_request_generated_tokens_bucket{{le="1"}} 0
tgi_request_generated_tokens_bucket{{le="+Inf"}} {requests}
tgi_request_generated_tokens_sum {tokens}
tgi_request_generated_tokens_count {requests}
# TYPE tgi_request_success counter
tgi_request_success {requests}
"""
TRITON = """# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{{model="resnet50",version="1"}} 12
# HELP nv_inference_count Number of inferences performed (does not include cached requests)
# TYPE nv_inference_count counter
nv_inference_count{{model="resnet50",version="1"}} {resnet}
nv_inference_count{{model="resnet50",version="2"}} 100
nv_inference_count{{model="bert",version="1"}} 77777
# HELP nv_inference_exec_count Number of model executions performed (does not include cached requests)
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{{model="resnet50",version="1"}} 3
"""


class StaticMetrics(http.server.BaseHTTPRequestHandler):
    """Serves whatever text the test last put in `body` (an engine's /metrics page at that moment)."""

    body = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        data = type(self).body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine() -> Iterator[tuple[str, type[StaticMetrics]]]:
    handler = type("Page", (StaticMetrics,), {"body": ""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/metrics", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("preset, page, before, after, unit, expected", [
    ("vllm", VLLM, {"tokens": "7.557572e+06"}, {"tokens": "7.558e+06"}, "token", 428),
    ("tgi", TGI, {"tokens": "1200", "requests": "10"}, {"tokens": "1350", "requests": "11"}, "token", 150),
    ("triton", TRITON, {"resnet": "640"}, {"resnet": "704"}, "inference", 64),
])
def test_presets_read_real_format_pages(engine, preset, page, before, after, unit, expected):
    url, handler = engine
    selector = '#{model="resnet50",version="1"}' if preset == "triton" else ""
    [source] = open_work_sources([f"{preset}:{url}{selector}"])
    assert source.unit == unit and source.counter.startswith(f"{preset}:{url}")
    handler.body = page.format(**before)
    assert source.sample(10.0) == []
    handler.body = page.format(**after)
    [r] = source.sample(11.0)
    assert isinstance(r, WorkReading) and (r.units, r.unit, r.kind) == (expected, unit, "measured")


def test_triton_without_matchers_sums_every_series_and_a_missing_series_is_a_gap(engine):
    url, handler = engine
    source = open_work_sources([f"triton:{url}"])[0]
    handler.body = TRITON.format(resnet="10")
    source.sample(0.0)
    handler.body = TRITON.format(resnet="15")
    assert source.sample(1.0)[0].units == 5  # 10 + 100 + 77777 -> 15 + 100 + 77777
    absent = open_work_sources([f'triton:{url}#{{model="gpt"}}'])[0]
    assert absent.sample(0.0) == [] and "no sample nv_inference_count" in (absent.health() or "")
    [gap] = absent.sample(1.0)
    assert isinstance(gap, WorkGap)  # a series that is not there is unknown work, never zero


def test_work_specs_parse_and_units_must_agree():
    assert parse_work_spec("vllm:http://h:8000/metrics").unit == "token"
    ws = parse_work_spec('prometheus:http://127.0.0.1:8000/metrics#my_items_total{model="resnet50",x!="y"}@image')
    assert (ws.metric, ws.unit, [(m.label, m.op, m.value) for m in ws.matchers]) == (
        "my_items_total", "image", [("model", "=", "resnet50"), ("x", "!=", "y")])
    assert parse_work_spec("triton:http://h/metrics#@request").unit == "request"
    assert parse_work_spec("work:train@image").unit == "image" and parse_work_spec("replay").unit == "item"
    for bad in ("vllm:", "prometheus:http://h/metrics#x_total", "ftp:x", "vllm:file:///etc/passwd",
                'prometheus:http://h/m#x{a~"b"}@item', "work:bad name", "prometheus:http://h/m#x@Not A Unit",
                'vllm:http://h/m#other_total'):
        with pytest.raises(SourceUnavailable):
            check_work_spec(bad)
    with pytest.raises(WorkUnitMismatch):
        open_work_sources(["vllm:http://127.0.0.1:1/metrics", "triton:http://127.0.0.1:1/metrics"])
    mixed = [WorkReading(0.0, 1.0, "a", "work", "measured", "token", 1),
             WorkReading(1.0, 2.0, "b", "work", "measured", "image", 1)]
    with pytest.raises(WorkUnitMismatch):
        aggregate_work(mixed, [], 0.0, 2.0, n=2)


# --- local API --------------------------------------------------------------------------------------------------
def test_local_work_api_is_durable_across_processes_and_a_node_restart(tmp_path: Path):
    path = tmp_path / "m.sqlite"
    with WorkCounter("train", "image", path) as job:
        assert job.add(256) == 256
    node = Store(path)
    source = LocalWorkSource(node, "train")  # unit known from the counter itself
    reader = CounterReader([source], sinks=[node.sink])
    reader.read(100.0)
    with WorkCounter("train", "image", path) as job:  # the job, in this process
        job.add(64)
        job.add(64)
    [r] = reader.read(101.0)
    assert isinstance(r, WorkReading) and (r.units, r.unit, r.kind) == (128, "image", "measured")
    # another process: the local command `ecoai work add`
    out = subprocess.run([ECOAI, "work", "add", "32", "--unit", "image",
                          "--name", "train", "--db", str(path)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "train: +32 image -> 416 image" in out.stdout, out.stderr
    bad = subprocess.run([ECOAI, "work", "add", "1", "--unit", "token",
                          "--name", "train", "--db", str(path)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "counts 'image'" in bad.stderr and bad.stdout == ""
    [r2] = reader.read(102.0)
    assert r2.units == 32
    node.record_epoch(1, 100.0, 102.0, n=2, work_counters=[source.counter])
    node.close()  # the node stops; the job keeps adding meanwhile
    with WorkCounter("train", "image", path) as job:
        job.add(1000)
    node = Store(path)  # the node restarts: the total is still there, nothing is lost or repeated
    assert node.work_total("train") == (1416, "image")
    assert node.epoch(1).work_units == (128, 32) and node.epoch(1).work_unit == "image"
    source = LocalWorkSource(node, "train", "image")
    reader = CounterReader([source], sinks=[node.sink])
    assert reader.read(110.0) == []  # primed again: the work done while the node was down is not claimed
    node.work_add("train", "image", 5)
    assert reader.read(111.0)[0].units == 5
    e = node.aggregate(100.0, 112.0, n=12, work_counters=[source.counter])
    assert e.work_total == 165 and not e.work_complete  # 102..110 (node down) and 111..112 are work gaps
    with pytest.raises(ValueError):
        node.work_add("train", "image", -1)
    node.close()


# --- replay -----------------------------------------------------------------------------------------------------
def _trace_items() -> tuple[list[float], list[int]]:
    with open(DEFAULT_TRACE, newline="") as f:
        rows = list(csv.DictReader(f))
    t0 = float(rows[0]["unix_time_s"])
    return [float(r["unix_time_s"]) - t0 for r in rows], [int(r["items_served_total"]) for r in rows]


def test_replayed_work_over_the_trace_equals_its_items_served_increase():
    times, items = _trace_items()
    lap = times[-1]
    source = ReplayWorkSource()
    assert (source.unit, source.kind, source.counter) == ("item", "replayed", "replay:h200_inference_trace")
    reader = CounterReader([source])
    t0 = 1_900_000_000.0
    got = reader.run_epoch(t0, t0 + lap)
    assert all(isinstance(r, WorkReading) and r.kind == "replayed" for r in got)
    assert sum(r.units for r in got) == items[-1] - items[0] == 74_745
    more = reader.run_epoch(t0 + lap, t0 + 2 * lap)  # the next lap continues seamlessly
    assert sum(r.units for r in more) == 74_745


def test_energy_and_work_replay_share_one_clock(tmp_path: Path):
    times, items = _trace_items()
    energy = ReplaySource(offset_s=40.0)
    [work] = open_work_sources(["replay"], energy_sources=[energy], replay_offset_s=99.0)
    assert work.clock is energy.clock  # the energy replay's offset and origin rule
    t0 = 1_800_000_000.0
    energy.sample(t0)  # the 10 Hz sampler primes first...
    work.sample(t0 + 3.0)  # ...the boundary reader later: still the same trace moment
    [r] = work.sample(t0 + 8.0)

    def at(pos: float) -> int:
        return max(c for t, c in zip(times, items) if t <= pos + 1e-9)

    assert r.units == at(48.0) - at(43.0)


def test_epoch_closes_into_64_pairs_with_both_totals_exact(tmp_path: Path):
    with Store(tmp_path / "m.sqlite") as store:
        energy = ReplaySource(offset_s=20.0)
        work = open_work_sources(["replay"], energy_sources=[energy])
        counters, polled = split_counter_sources([energy, *work])
        assert polled == [] and counters == [energy, *work]
        reader = CounterReader(counters, sinks=[store.sink], boundaries=interval_boundaries(5.0))
        t0 = 1_800_000_000.0
        reader.run_epoch(t0, t0 + 5.0)
        reader.run_epoch(t0 + 5.0, t0 + 10.0)
        assert reader.reads == 1 + 2 * N_INTERVALS  # 64 reads per epoch, not 50 per 5 s per source at 10 Hz
        e = store.record_epoch(3, t0, t0 + 5.0, devices=energy.devices(), work_counters=[work[0].counter],
                               work_unit="item")
        assert len(e.pairs) == N_INTERVALS and e.complete and e.work_complete
        e_mj = energy._cumulative(25.0)[0] - energy._cumulative(20.0)[0]
        assert e.total_mj == round(e_mj) == sum(e.intervals_mj)
        times, items = _trace_items()
        at = {round(t, 3): c for t, c in zip(times, items)}
        expected_work = max(c for t, c in at.items() if t <= 25.0) - max(c for t, c in at.items() if t <= 20.0)
        assert e.work_total == expected_work == sum(e.work_units) > 0
        readings = store.work_readings(t0, t0 + 5.0)
        assert list(e.work_units) == [r.units for r in readings]  # boundary reads: each interval its own read
        assert (e.work_method, e.energy_method, e.methods) == ("replayed", "replayed", 2 | 2 << 4)
        again = Store(store.path)  # persisted with the record
        assert again.epoch(3) == e
        row = sqlite3.connect(store.path).execute("SELECT work_total, work_unit, work_method FROM epochs").fetchone()
        assert row == (expected_work, "item", "replayed")
        again.close()


def test_real_time_counter_reader_reads_only_at_boundaries():
    work = ReplayWorkSource()
    got: list = []
    reader = CounterReader([work], sinks=[lambda items, now: got.extend(items)],
                           boundaries=interval_boundaries(0.64, n=64))  # 10 ms intervals
    thread = reader.start_background()
    time.sleep(0.3)
    reader.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and reader.reads >= 2
    assert all(isinstance(r, WorkReading) for r in got)
    assert all(a.t_end == b.t_start for a, b in zip(got, got[1:]))  # contiguous: nothing skipped or doubled


# --- store migration --------------------------------------------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE readings (id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, device TEXT NOT NULL,
    source TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, energy_mj REAL NOT NULL, context TEXT);
CREATE TABLE gaps (id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, device TEXT NOT NULL,
    source TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE epochs (epoch INTEGER PRIMARY KEY, t0 REAL NOT NULL, t1 REAL NOT NULL, total_mj INTEGER NOT NULL,
    complete INTEGER NOT NULL, record TEXT NOT NULL, closed_at REAL NOT NULL);
"""


def test_version1_store_file_is_migrated_in_place_without_losing_anything(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO readings (t_start, t_end, device, source, method, kind, energy_mj) "
               "VALUES (0, 4, 'gpu0:X', 'nvml', 'energy_counter', 'measured', 8000)")
    record = ('{"epoch": 7, "t0": 0.0, "t1": 4.0, "intervals_mj": [2000, 2000, 2000, 2000], "total_mj": 8000, '
              '"by_method": {"nvml/energy_counter": 8000}, "by_kind": {"measured": 8000}, "devices": ["gpu0:X"], '
              '"gaps": [], "complete": true}')
    db.execute("INSERT INTO epochs VALUES (7, 0, 4, 8000, 1, ?, 1)", (record,))
    db.commit()
    db.close()
    with Store(path) as store:
        old = store.epoch(7)
        assert old is not None and old.intervals_mj == (2000,) * 4 and old.work_units == () and old.pairs == ()
        assert len(store.readings(0, 4)) == 1 and store.aggregate(0.0, 4.0, n=4).total_mj == 8000
        store.work_add("default", "item", 3)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert {r[1] for r in db.execute("PRAGMA table_info(epochs)")} >= {"work_total", "work_unit", "work_method"}
    assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 1
    db.close()
    with Store(path) as store:  # a second open is a no-op
        assert store.work_total("default") == (3, "item") and store.epoch(7) == old
