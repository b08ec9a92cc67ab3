"""Prometheus metrics of the oracle node and the exporter that serves them (prometheus-client), loopback by default.

Metric names (alert rules in oracle/monitoring/alerts.yml use them):
- ecoai_energy_joules_total{device, method, kind, node, gpu_uuid, namespace, pod, container}
                                                    counter: energy read, per device and method label
- ecoai_power_watts{device, method, kind, node, gpu_uuid, namespace, pod, container}
                                                    gauge: mean power of the device's latest reading
- ecoai_carbon_grams_total{region}                  counter: location-based CO2e of the energy counted
- ecoai_energy_bound_watts                          gauge: the energy bound of the latest epoch's work at the loosest
                                                    efficiency tier (ceil(τ · W / 1000) mJ) as mean power
- ecoai_epochs_total{outcome}                       counter: proved, over_budget, incomplete, failed, ...
- ecoai_proofs_total{result}                        counter: accepted, rejected, failed, ...
- ecoai_sampler_last_sample_timestamp_seconds       gauge: unix time of the sampler's latest tick
- ecoai_sampler_gaps_total{device}                  counter: recorded gaps
- ecoai_work_units_total{counter, unit, kind, node} counter: useful work read from the work counters
- ecoai_work_gaps_total{counter}                    counter: recorded work-counter gaps
- ecoai_pod_attribution_up                          gauge, only with pod attribution on: 1 while the kubelet's
                                                    pod-resources API answered its latest List, else 0

Attribution labels of the energy metrics (docs/kubernetes.md, "Attribution"):
- `node`: the Kubernetes node name from env NODE_NAME (downward API), empty elsewhere;
- `gpu_uuid`: the GPU's NVML UUID (`GPU-…`); empty for every device that is not a live NVIDIA GPU (RAPL, the CPU
  estimate, a replayed trace), so "no GPU" never looks like a GPU;
- `namespace`, `pod`, `container`: the workload container the kubelet's pod-resources API says holds that GPU
  (oracle.measure.podresources); "unknown" when that is not known: attribution off, the API not answering, a GPU
  no container or several containers hold, and every non-GPU device.
They sit on the energy series themselves, as dcgm-exporter puts `pod`/`namespace`/`container` on its GPU series:
`sum by (namespace) (rate(ecoai_energy_joules_total[5m]))` needs no join, and because a (GPU, pod) series only
grows while that pod holds the GPU, `increase()` of it is that pod's energy, which joining an info metric at query
time could only approximate at the evaluation instants. When a GPU changes hands its power gauge moves to the new
holder at once and the old holder's energy series is dropped RETIRED_SERIES_S later (bounded series under pod churn).

The exporter also answers the probes: GET /healthz is 200 while the sampler ticked within the last 30 s (503
otherwise), GET /readyz is 200 while the latest RPC call got an answer (503 otherwise); every other path serves
the metrics.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from oracle.measure.podresources import UNKNOWN_POD, PodRef, PodResourcesWatcher
from oracle.measure.reading import Gap, Item, Reading, WorkGap, WorkReading

EPOCH_OUTCOMES = ("proved", "over_budget", "incomplete", "failed", "zero_work", "below_minimum")
PROOF_RESULTS = ("accepted", "rejected", "failed")
HEALTHY_SAMPLE_AGE_S = 30.0  # the sampler ticks 10 times a second; 30 s without a tick is a stalled node
ATTRIBUTION_LABELS = ("gpu_uuid", "namespace", "pod", "container")
# A GPU's energy series of a pod that no longer holds it stops growing; 10 min later (its final value scraped ~40
# times at 15 s) it is dropped, so a node running thousands of short jobs does not export thousands of series.
RETIRED_SERIES_S = 600.0


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request (a slow scrape does not block a probe). Address reuse, as servers bind: a restart
    gets its documented port back while the last run's connections sit in TIME_WAIT."""

    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6  # exporter.host "::" in a dual-stack pod


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds would flood stderr
        pass


@dataclass
class Exporter:
    """A running /metrics HTTP server; `close()` stops it."""

    server: WSGIServer
    thread: Thread
    host: str
    pods: PodResourcesWatcher | None = None  # polled only while the exporter serves

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.pods is not None:
            self.pods.close()


class Metrics:
    """The node's metrics in their own registry (so tests and several nodes in one process do not collide)."""

    def __init__(self, registry: CollectorRegistry | None = None, node_name: str | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.node_name = os.environ.get("NODE_NAME", "") if node_name is None else node_name
        r = self.registry
        energy_labels = ["device", "method", "kind", "node", *ATTRIBUTION_LABELS]
        self.energy = Counter("ecoai_energy_joules", "Energy read from the sources, joules", energy_labels,
                              registry=r)
        self.power = Gauge("ecoai_power_watts", "Mean power of the latest reading per device, watts", energy_labels,
                           registry=r)
        # Attribution: device name -> NVML UUID (set_gpu_uuids), the pod-resources cache (attribute_pods), the
        # labels each device's series were last written with, and the series retired since (monotonic time).
        self._gpu_uuids: dict[str, str] = {}
        self.pods: PodResourcesWatcher | None = None
        self._current: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._retired: dict[tuple[str, ...], float] = {}
        # Probe state: unix time of the latest sampler tick, and whether the latest RPC call was answered.
        self._last_tick: float | None = None
        self._rpc_ok: bool | None = None
        self._probe_lock = threading.Lock()
        self.carbon = Counter("ecoai_carbon_grams", "Location-based CO2e of the energy counted, grams",
                              ["region"], registry=r)
        self.energy_bound = Gauge("ecoai_energy_bound_watts",
                                  "Energy the latest epoch's work is allowed at the loosest efficiency tier, as mean "
                                  "power, watts", registry=r)
        self.epochs = Counter("ecoai_epochs", "Closed epochs by outcome", ["outcome"], registry=r)
        self.proofs = Counter("ecoai_proofs", "Proof attempts by result", ["result"], registry=r)
        self.last_sample = Gauge("ecoai_sampler_last_sample_timestamp_seconds",
                                 "Unix time of the sampler's latest tick", registry=r)
        self.gaps = Counter("ecoai_sampler_gaps", "Recorded measurement gaps", ["device"], registry=r)
        self.work = Counter("ecoai_work_units", "Useful work read from the work counters, in their unit",
                            ["counter", "unit", "kind", "node"], registry=r)
        self.work_gaps = Counter("ecoai_work_gaps", "Recorded work-counter gaps", ["counter"], registry=r)
        # Longest time without a read before /healthz fails (None: HEALTHY_SAMPLE_AGE_S); a node whose boundary
        # reads are further apart (long epochs: epoch / 64) raises it.
        self.healthy_age_s: float | None = None
        for outcome in EPOCH_OUTCOMES:  # export zeros so rate()/increase() work from the first scrape
            self.epochs.labels(outcome)
        for result in PROOF_RESULTS:
            self.proofs.labels(result)

    def set_gpu_uuids(self, uuids: dict[str, str]) -> None:
        """Device name → NVML UUID (NvmlSource.gpu_uuids()): the `gpu_uuid` label, and the key of pod attribution."""
        self._gpu_uuids.update(uuids)

    def attribute_pods(self, pods: PodResourcesWatcher) -> None:
        """Label GPU energy with the pod holding each GPU, from this pod-resources watcher (started and closed
        with the exporter); also exports ecoai_pod_attribution_up."""
        if self.pods is None:
            Gauge("ecoai_pod_attribution_up", "1 while the kubelet pod-resources API answered its latest List",
                  registry=self.registry).set_function(lambda: 1.0 if self.pods is not None and self.pods.up else 0.0)
        self.pods = pods

    def _holder(self, gpu_uuid: str) -> PodRef:
        if not gpu_uuid or self.pods is None:
            return UNKNOWN_POD
        return self.pods.holder(gpu_uuid)

    def _energy_labels(self, it: Reading) -> tuple[str, ...]:
        # Only a live (measured) GPU has a UUID: a replayed trace's GPU is not this machine's.
        uuid = self._gpu_uuids.get(it.device, "") if it.kind == "measured" else ""
        pod = self._holder(uuid)
        return (it.device, it.label, it.kind, self.node_name, uuid, pod.namespace, pod.pod, pod.container)

    def observe(self, items: Iterable[Item], now: float | None = None) -> None:
        """Count readings and gaps; mark the sampler alive at `now`."""
        for it in items:
            if isinstance(it, Reading):
                labels = self._energy_labels(it)
                self._relabel((it.device, it.label, it.kind), labels)
                self.energy.labels(*labels).inc(it.energy_mj / 1000.0)
                self.power.labels(*labels).set(it.power_w)
            elif isinstance(it, Gap):
                self.gaps.labels(it.device).inc()
            elif isinstance(it, WorkReading):
                self.work.labels(it.counter, it.unit, it.kind, self.node_name).inc(it.units)
            elif isinstance(it, WorkGap):
                self.work_gaps.labels(it.counter).inc()
        if now is not None:
            self.last_sample.set(now)
            with self._probe_lock:
                self._last_tick = time.time()  # liveness is judged on this process's clock, not the sampler's

    def _relabel(self, key: tuple[str, str, str], labels: tuple[str, ...]) -> None:
        """When a device's attribution changed (its GPU changed hands): drop the old pod's power gauge at once (one
        power series per device) and retire the old energy counter. On every reading: drop the counters retired over
        RETIRED_SERIES_S ago (also when the GPU never changes hands again)."""
        previous = self._current.get(key)
        if previous != labels:
            self._current[key] = labels
            self._retired.pop(labels, None)  # back with a holder it had before: that counter grows again
            if previous is not None:
                self.power.remove(*previous)
                self._retired[previous] = time.monotonic()
        if not self._retired:
            return
        now = time.monotonic()
        for old, since in list(self._retired.items()):
            if now - since > RETIRED_SERIES_S:
                self.energy.remove(*old)
                del self._retired[old]

    def sink(self, items: list[Item], now: float) -> None:
        """Sampler sink."""
        self.observe(items, now)

    def add_carbon(self, grams: float, region: str) -> None:
        self.carbon.labels(region).inc(grams)

    def set_energy_bound(self, energy_bound_mj: int, epoch_length_s: float) -> None:
        """The energy bound (oracle.conventions.energy_bound_mj) of an epoch, as mean power over its length."""
        self.energy_bound.set(energy_bound_mj / 1000.0 / epoch_length_s)

    def epoch(self, outcome: str) -> None:
        """Count a closed epoch: proved, over_budget, incomplete, failed (other words are allowed)."""
        self.epochs.labels(outcome).inc()

    def proof(self, result: str) -> None:
        """Count a proof attempt: accepted, rejected, failed."""
        self.proofs.labels(result).inc()

    def rpc_answered(self, ok: bool) -> None:
        """Whether the latest RPC call got an answer (GreenProofClient's on_rpc): /readyz."""
        with self._probe_lock:
            self._rpc_ok = ok

    def healthy(self, now: float | None = None) -> bool:
        with self._probe_lock:
            tick = self._last_tick
        return tick is not None and (now if now is not None else time.time()) - tick <= (self.healthy_age_s or HEALTHY_SAMPLE_AGE_S)

    def ready(self) -> bool:
        with self._probe_lock:
            return bool(self._rpc_ok)

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """/healthz, /readyz, and the metrics on every other path (as prometheus_client serves them)."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path in ("/healthz", "/readyz"):
                ok = self.healthy() if path == "/healthz" else self.ready()
                what = "sampler ticked within 30 s" if path == "/healthz" else "last RPC call answered"
                body = f"{'ok' if ok else 'unavailable'}: {what if ok else 'not ' + what}\n".encode()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
                return [body]
            return metrics_app(environ, start_response)

        return app

    def start_exporter(self, port: int = 0, host: str = "127.0.0.1") -> Exporter:
        """Serve /metrics, /healthz and /readyz on host:port (port 0 picks a free one; see Exporter.port); starts
        the pod-resources watcher, if any, which `Exporter.close()` stops."""
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        server = make_server(host, port, self.wsgi_app(), server_class, handler_class=_QuietHandler)
        thread = Thread(target=server.serve_forever, name="ecoai-exporter", daemon=True)
        thread.start()
        if self.pods is not None:
            self.pods.start()
        return Exporter(server, thread, host, self.pods)
