"""Work meters: cumulative counters of useful work (tokens, images, requests, items) read at interval boundaries.

Work is counted the way energy is: each source is a cumulative counter; `sample(now)` reads it and returns the
increase since the previous read as a `WorkReading` (the first read only primes). A counter that cannot be read,
went backwards, or restarted (its Prometheus `_created` timestamp changed, or a series vanished) gives a
`WorkGap` over the span, and the next good read primes it again: nothing is ever filled in.

Sources (spec syntax in `check_work_spec`; docs/measurement.md has the table):
- `PrometheusWorkSource`: a serving engine's `/metrics` (Prometheus text format) over HTTP, parsed with
  prometheus_client's parser; presets vllm / tgi / triton and a generic "metric name + label matchers".
- `LocalWorkSource`: the running total of a named counter that batch/training jobs add to through the store
  (`WorkCounter.add(n)` in process, `ecoai work add N` from a shell): durable in SQLite, so neither a job
  nor a node restart loses or repeats work.
- `ReplayWorkSource`: the shipped H200 trace's `items_served_total`, labelled replayed, on the same clock as the
  energy replay (`oracle.measure.replay.ReplaySource`), so a demo's energy and work come from one real trace.

Counter values are floored to whole units before differencing: floor(b) - floor(a) telescopes, so the
intervals of any span add up exactly to the counter's whole-unit increase over it.
"""

from __future__ import annotations

import abc

import bisect
import csv
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oracle.measure.reading import Kind, SourceUnavailable, WorkGap, WorkReading, WorkUnitMismatch

if TYPE_CHECKING:
    from oracle.measure.replay import ReplayClock
    from oracle.measure.store import Store

WorkItem = WorkReading | WorkGap
HTTP_TIMEOUT_S = 2.0  # a boundary read must not hold up the others; a slow engine gives a gap, not a stall
MAX_METRICS_BYTES = 16 * 2**20  # a /metrics page is ~10-500 kB; anything far larger is not what we asked for
UNIT_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

# Presets: (sample name, default unit). Names from each engine's documentation:
#   vLLM  docs.vllm.ai "Production Metrics": counter vllm:generation_tokens_total{model_name=...}
#   TGI   huggingface.co/docs/text-generation-inference/reference/metrics: histogram
#         tgi_request_generated_tokens (its _sum = generated tokens of finished requests, _count = requests)
#   Triton docs.nvidia.com Triton "Metrics": counter nv_inference_count{model=...,version=...} (inferences:
#         a batched request of 8 counts 8; nv_inference_request_success counts requests)
PRESETS: dict[str, tuple[str, str]] = {
    "vllm": ("vllm:generation_tokens_total", "token"),
    "tgi": ("tgi_request_generated_tokens_sum", "token"),
    "triton": ("nv_inference_count", "inference"),
}
WORK_SPEC_FORMS = ("vllm:URL[#[{LABELS}][@UNIT]]", "tgi:URL[...]", "triton:URL[...]",
                   "prometheus:URL#METRIC[{LABELS}]@UNIT", "work:NAME[@UNIT]", "replay[:FILE]")


class CumulativeWorkSource(abc.ABC):
    """Turns successive reads of a cumulative counter into work readings and gaps (the shared arithmetic).

    Subclasses set `counter`, `source`, `kind`, `unit` and implement `read()` -> {series: (value, created)},
    raising any exception when the counter cannot be read. One series is one labelled time series (one for
    counters without labels); `created` is the series' start time when the exporter says it, else None.
    """

    counter: str
    source: str
    kind: Kind
    unit: str
    cumulative = True  # read at interval boundaries (CounterReader), never polled

    def __init__(self) -> None:
        self._last: dict[Any, tuple[int, float | None]] | None = None
        self._last_t: float | None = None
        self._lost: str | None = None

    @property
    def name(self) -> str:
        return self.counter

    def devices(self) -> list[str]:
        return [self.counter]

    @abc.abstractmethod
    def read(self) -> dict[Any, tuple[float, float | None]]:
        """The counter's series now: {series: (cumulative value, created time or None)}."""

    def health(self) -> str | None:
        """None when the counter answers now, else why not (a cheap check for start-up and status pages)."""
        try:
            self.read()
        except Exception as exc:  # any failure is reported, never raised: the caller decides
            return f"{type(exc).__name__}: {exc}"
        return None

    def sample(self, now: float) -> list[WorkItem]:
        last, last_t = self._last, self._last_t
        try:
            current = {k: (math.floor(v), created) for k, (v, created) in self.read().items()}
        except Exception as exc:  # unreadable: the span since the last good read is unknown
            self._last, self._last_t, self._lost = None, now, f"{type(exc).__name__}: {exc}"
            if last_t is not None and now > last_t:
                return [WorkGap(last_t, now, self.counter, self.source, f"counter not readable: {self._lost}")]
            return []
        self._last, self._last_t = current, now
        if last_t is None or now <= last_t:
            return []
        if last is None:  # back after a failure: primed again; what happened in between is unknown
            return [WorkGap(last_t, now, self.counter, self.source, f"counter readable again after: {self._lost}")]
        total = 0
        for key, (old, old_created) in last.items():
            new = current.get(key)
            if new is None:
                return [WorkGap(last_t, now, self.counter, self.source, f"series {_series(key)} vanished (restart)")]
            value, created = new
            if created != old_created and created is not None and old_created is not None:
                return [WorkGap(last_t, now, self.counter, self.source,
                                f"series {_series(key)} restarted (created {old_created} -> {created})")]
            if value < old:
                return [WorkGap(last_t, now, self.counter, self.source,
                                f"counter went backwards ({old} -> {value}): reset")]
            total += value - old
        # A series that appeared since the last read started at zero (exporters create series at 0).
        total += sum(value for key, (value, _) in current.items() if key not in last)
        return [WorkReading(last_t, now, self.counter, self.source, self.kind, self.unit, total)]

    def close(self) -> None:
        pass


def _series(key: Any) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}" if key else "{}"


# --- Prometheus text over HTTP ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector: =, !=, =~ (full-match regex), !~ (as in PromQL)."""

    label: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit


_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """`a="x", b!="y", c=~"z.*"` -> matchers; raises ValueError on anything else."""
    out, pos = [], 0
    while pos < len(text):
        m = _MATCHER_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"bad label matcher near {text[pos:]!r} (want name=\"value\", comma separated)")
        value = m.group(3).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        if m.group(2) in ("=~", "!~"):
            re.compile(value)  # a bad regex is a config error now, not a gap at every boundary
        out.append(Matcher(m.group(1), m.group(2), value))
        pos = m.end()
    return tuple(out)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Read only the URL the operator configured: a redirect is an error (a gap), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies from the environment (the URL is read directly) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class PrometheusWorkSource(CumulativeWorkSource):
    """Sum of the matching series of one counter on a Prometheus text `/metrics` page, read over HTTP(S).

    `metric` is the sample name as exposed (`vllm:generation_tokens_total`, `tgi_request_generated_tokens_sum`);
    every sample of that name whose labels satisfy all `matchers` is summed. A page without any matching
    sample is an error (a gap): a missing series is never read as zero work.
    """

    source = "prometheus"

    def __init__(self, url: str, metric: str, unit: str, matchers: Sequence[Matcher] = (), *,
                 kind: Kind = "measured", timeout_s: float = HTTP_TIMEOUT_S, preset: str = "prometheus") -> None:
        super().__init__()
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise SourceUnavailable(f"work source URL must be http(s), got {url!r}")
        if not METRIC_RE.match(metric):
            raise SourceUnavailable(f"bad metric name {metric!r}")
        self.url, self.metric, self.unit, self.matchers = url, metric, unit, tuple(matchers)
        self.kind, self.timeout_s = kind, timeout_s
        selector = "{" + ",".join(f'{m.label}{m.op}"{m.value}"' for m in self.matchers) + "}" if matchers else ""
        self.counter = f"{preset}:{url}#{metric}{selector}"
        # The series' _created sample: how prometheus_client exporters say "this counter restarted".
        stem = metric[:-6] if metric.endswith("_total") else metric.rsplit("_", 1)[0] if metric.endswith(
            ("_sum", "_count")) else metric
        base = metric[:-6] if metric.endswith("_total") else metric
        self._created_names = {stem + "_created", base + "_created"}
        # prometheus_client's parser names a counter's samples NAME_total even where the page says NAME
        # (Triton's nv_inference_count), so both spellings are the metric.
        self._names = {metric, base + "_total"}
        self._stem = stem

    def fetch(self) -> str:
        with _OPENER.open(urllib.request.Request(self.url, headers={"Accept": "text/plain"}),
                          timeout=self.timeout_s) as resp:
            body = resp.read(MAX_METRICS_BYTES + 1)
        if len(body) > MAX_METRICS_BYTES:
            raise ValueError(f"{self.url} sent more than {MAX_METRICS_BYTES} bytes")
        return body.decode("utf-8")

    def read(self) -> dict[Any, tuple[float, float | None]]:
        from prometheus_client.parser import text_string_to_metric_families

        text = self.fetch()
        # Keep only our metric's lines (and its HELP/TYPE) before parsing: a vLLM page has ~1,000 histogram
        # lines we would otherwise parse at every boundary. The parser still reads what is kept, unchanged.
        stem = self._stem
        kept = "\n".join(line for line in text.splitlines()
                         if line.startswith(stem) or (line.startswith("# ") and line[7:].startswith(stem)))
        values: dict[Any, float] = {}
        created: dict[Any, float] = {}
        for family in text_string_to_metric_families(kept + "\n"):
            for s in family.samples:
                is_value = s.name in self._names and (s.name == self.metric or family.type == "counter")
                if is_value or s.name in self._created_names:
                    if all(m.matches(s.labels) for m in self.matchers):
                        key = tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("le", "quantile")))
                        if is_value:
                            values[key] = values.get(key, 0.0) + s.value
                        else:
                            created[key] = s.value
        if not values:
            raise LookupError(f"no sample {self.metric} matching {list(self.matchers) or 'any labels'} at {self.url}")
        for key, v in values.items():
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"counter {self.metric}{_series(key)} = {v} is not a count")
        return {key: (v, created.get(key)) for key, v in values.items()}


# --- local API: jobs add work through the store ---------------------------------------------------------------
class WorkCounter:
    """In-process work API for batch and training jobs: `WorkCounter("train", "image").add(256)` after each batch.

    Each add is one durable SQLite transaction on the store's work table (a log row and the running total),
    so it survives the job and the node restarting; the node reads the running total at interval boundaries
    (`LocalWorkSource`). Any process may add to the same name; the unit is fixed by the first add.
    """

    def __init__(self, name: str = "default", unit: str = "item", store: Store | Path | str | None = None) -> None:
        from oracle.measure.store import Store, node_store_path

        check_counter_name(name)
        check_unit(unit)
        self.name, self.unit = name, unit
        self._own = not isinstance(store, Store)
        self.store = store if isinstance(store, Store) else Store(store or node_store_path())  # the node reads it

    def add(self, n: int) -> int:
        """Count `n` more units of work; returns the counter's new running total (durable on return)."""
        return self.store.work_add(self.name, self.unit, n)

    def total(self) -> int:
        return self.store.work_total(self.name)[0]

    def close(self) -> None:
        if self._own:
            self.store.close()

    def __enter__(self) -> WorkCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalWorkSource(CumulativeWorkSource):
    """The running total of a local work counter (`WorkCounter` / `ecoai work add`) in the store, read at
    boundaries. Measured: the job itself counted the work on this machine."""

    source = "work"
    kind: Kind = "measured"

    def __init__(self, store: Store, name: str, unit: str | None = None) -> None:
        super().__init__()
        check_counter_name(name)
        self.store, self.counter = store, f"work:{name}"
        self._name = name
        known = store.work_total(name)[1]
        if unit is not None and known is not None and unit != known:
            raise WorkUnitMismatch(f"work counter {name!r} counts {known!r}, not {unit!r}")
        unit = unit or known
        if unit is None:
            raise SourceUnavailable(f"work counter {name!r} has no unit yet: give it as work:{name}@UNIT")
        check_unit(unit)
        self.unit = unit

    def read(self) -> dict[Any, tuple[float, float | None]]:
        total, unit = self.store.work_total(self._name)
        if unit is not None and unit != self.unit:
            raise WorkUnitMismatch(f"work counter {self._name!r} now counts {unit!r}, not {self.unit!r}")
        return {(): (float(total), None)}


# --- replay of the H200 trace's items_served_total -------------------------------------------------------------
def load_work_trace(path: Path, column: str = "items_served_total") -> tuple[list[float], list[int]]:
    """(relative times, cumulative counts) of a trace's work column; SourceUnavailable when absent/malformed."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if column not in (reader.fieldnames or []) or "unix_time_s" not in (reader.fieldnames or []):
                raise SourceUnavailable(f"trace {path} has no unix_time_s/{column} columns")
            rows = [(float(r["unix_time_s"]), int(r[column])) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error, TypeError, ValueError) as exc:
        raise SourceUnavailable(f"cannot read work column of trace {path}: {exc}") from exc
    if len(rows) < 2:
        raise SourceUnavailable(f"trace {path} has fewer than two samples")
    for (_, a), (_, b) in zip(rows, rows[1:]):
        if b < a:
            raise SourceUnavailable(f"trace {path}: {column} goes backwards")
    return [t - rows[0][0] for t, _ in rows], [c - rows[0][1] for _, c in rows]


class ReplayWorkSource(CumulativeWorkSource):
    """Replays the trace's cumulative work counter, labelled replayed, unit "item" (requests served by the
    recorded transformer encoder, see data/PROVENANCE.md).

    The counter at wall time t is the trace's count at its last sample at or before trace position
    (t - origin), laps counted, like a live counter read at t. `clock` is the energy replay's `ReplayClock`
    (`ReplaySource.clock`): both map wall time to the same trace position, whichever is read first.
    """

    source = "replay"
    kind: Kind = "replayed"

    def __init__(self, path: Path | str | None = None, offset_s: float = 0.0, loop: bool = True,
                 clock: ReplayClock | None = None, unit: str = "item") -> None:
        from oracle.measure.replay import DEFAULT_TRACE, ReplayClock

        super().__init__()
        self.path = Path(path) if path is not None else DEFAULT_TRACE
        self._t, self._count = load_work_trace(self.path)
        self.lap_s, self.lap_items = self._t[-1], self._count[-1]
        self.clock = clock if clock is not None else ReplayClock(offset_s, self.lap_s)
        self.loop, self.unit = loop, unit
        self.counter = f"replay:{self.path.stem}"
        self._now: float | None = None

    def health(self) -> str | None:
        return None  # the trace was loaded and checked when the source opened; nothing can fail later

    def sample(self, now: float) -> list[WorkItem]:
        self.clock.prime(now)
        self._now = now
        return super().sample(now)

    def read(self) -> dict[Any, tuple[float, float | None]]:
        assert self._now is not None
        pos = self._now - self.clock.origin
        if not self.loop and pos > self.lap_s:
            raise LookupError("replay trace ended")
        lap, x = divmod(pos, self.lap_s)
        i = bisect.bisect_right(self._t, x + 1e-9) - 1  # tolerance: a boundary on a sample time sees it
        return {(): (float(lap * self.lap_items + self._count[max(i, 0)]), None)}


# --- specs ------------------------------------------------------------------------------------------------------
def check_unit(unit: str) -> str:
    if not UNIT_RE.match(unit):
        raise SourceUnavailable(f"bad work unit {unit!r} (lowercase word such as token, image, request, item)")
    return unit


def check_counter_name(name: str) -> str:
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
        raise SourceUnavailable(f"bad work counter name {name!r} (letters, digits, _ . -; at most 64)")
    return name


_SELECTOR_RE = re.compile(r"^(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)?(?:\{(?P<labels>.*)\})?(?:@(?P<unit>[^@{}]+))?$")


@dataclass(frozen=True)
class WorkSpec:
    """A parsed work source spec (see `check_work_spec`)."""

    kind: str  # vllm | tgi | triton | prometheus | work | replay
    target: str  # URL, counter name or trace path ("" = the shipped trace)
    metric: str = ""
    matchers: tuple[Matcher, ...] = ()
    unit: str | None = None


def parse_work_spec(spec: str) -> WorkSpec:
    """Parse a work source spec; raises SourceUnavailable naming the forms. Opens nothing.

    vllm:URL / tgi:URL / triton:URL   preset on an engine's /metrics URL; an optional fragment
                                      `#{LABEL="V",...}` selects series and `#...@UNIT` overrides the preset's
                                      unit (e.g. triton:http://h:8002/metrics#{model="resnet50"}@request)
    prometheus:URL#METRIC{LABELS}@UNIT  any counter (sample name as exposed, e.g. my_items_total), unit required
    work:NAME[@UNIT]                  the local counter jobs add to (`ecoai work add`, `WorkCounter`)
    replay | replay:FILE              a trace's items_served_total (default: the shipped H200 trace), unit item
    """
    bad = SourceUnavailable(f"unknown work source {spec!r} (forms: {', '.join(WORK_SPEC_FORMS)})")
    kind, _, rest = spec.partition(":")
    if kind == "replay":
        return WorkSpec("replay", rest, unit="item")
    if kind == "work":
        name, _, unit = rest.partition("@")
        check_counter_name(name)
        return WorkSpec("work", name, unit=check_unit(unit) if unit else None)
    if kind not in (*PRESETS, "prometheus") or not rest:
        raise bad
    url, _, selector = rest.partition("#")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not urllib.parse.urlsplit(url).netloc:
        raise SourceUnavailable(f"work source {spec!r}: {url!r} is not an http(s) URL")
    m = _SELECTOR_RE.match(selector)
    if m is None:
        raise SourceUnavailable(f"work source {spec!r}: bad selector {selector!r} (METRIC{{LABEL=\"V\"}}@UNIT)")
    try:
        matchers = parse_matchers(m.group("labels") or "")
    except (ValueError, re.error) as exc:
        raise SourceUnavailable(f"work source {spec!r}: {exc}") from None
    metric, unit = m.group("metric"), m.group("unit")
    if kind == "prometheus":
        if not metric or not unit:
            raise SourceUnavailable(f"work source {spec!r}: the generic form needs #METRIC{{...}}@UNIT")
    else:
        if metric:
            raise SourceUnavailable(f"work source {spec!r}: preset {kind} fixes the metric; use prometheus:URL#...")
        metric, default_unit = PRESETS[kind]
        unit = unit or default_unit
    return WorkSpec(kind, url, metric, matchers, check_unit(unit))


def check_work_spec(spec: str) -> str:
    """`spec` unchanged when it parses (see `parse_work_spec`); raises SourceUnavailable otherwise."""
    parse_work_spec(spec)
    return spec


def open_work_source(spec: str, *, store: Store | None = None, replay_offset_s: float = 0.0,
                     replay_clock: ReplayClock | None = None,
                     timeout_s: float = HTTP_TIMEOUT_S) -> CumulativeWorkSource:
    """One work source from its spec. `store`: where `work:` counters live (the node's store);
    `replay_clock`: the energy replay's clock, so that replayed work and energy play the same moment."""
    ws = parse_work_spec(spec)
    if ws.kind == "replay":
        return ReplayWorkSource(ws.target or None, offset_s=replay_offset_s, clock=replay_clock)
    if ws.kind == "work":
        if store is None:
            raise SourceUnavailable(f"work source {spec!r} needs the measurement store")
        return LocalWorkSource(store, ws.target, ws.unit)
    assert ws.unit is not None
    return PrometheusWorkSource(ws.target, ws.metric, ws.unit, ws.matchers, timeout_s=timeout_s, preset=ws.kind)


def open_work_sources(specs: Sequence[str], *, energy_sources: Sequence[Any] = (), **kwargs: Any,
                      ) -> list[CumulativeWorkSource]:
    """Work sources for a list of specs; they must all count the same unit (WorkUnitMismatch otherwise).

    `energy_sources`: the node's energy sources; a replayed work source shares the clock of the energy replay
    among them, so the demo's energy and work play the same moment of the trace. Other keywords: as for
    `open_work_source` (store, replay_offset_s, timeout_s).
    """
    clock = next((s.clock for s in energy_sources if getattr(s, "name", "") == "replay"), None)
    if clock is not None:
        kwargs.setdefault("replay_clock", clock)
    sources = [open_work_source(s, **kwargs) for s in specs]
    check_same_unit(sources)
    return sources


def check_same_unit(sources: Sequence[CumulativeWorkSource]) -> str | None:
    units = sorted({s.unit for s in sources})
    if len(units) > 1:
        raise WorkUnitMismatch("work sources count different units: " +
                               ", ".join(f"{s.counter} = {s.unit}" for s in sources))
    return units[0] if units else None

