"""Prometheus metrics of the oracle node and the exporter that serves them (prometheus-client), loopback by default.

Metric names (alert rules in oracle/monitoring/alerts.yml use them):
- ecoai_energy_joules_total{device, method, kind}   counter: energy read, per device and method label
- ecoai_power_watts{device, method, kind}           gauge: mean power of the device's latest reading
- ecoai_carbon_grams_total{region}                  counter: location-based CO2e of the energy counted
- ecoai_energy_bound_watts                          gauge: the energy bound of the latest epoch's work at the loosest
                                                    efficiency tier (ceil(τ · W / 1000) mJ) as mean power
- ecoai_epochs_total{outcome}                       counter: proved, over_budget, incomplete, failed, ...
- ecoai_proofs_total{result}                        counter: accepted, rejected, failed, ...
- ecoai_sampler_last_sample_timestamp_seconds       gauge: unix time of the sampler's latest tick
- ecoai_sampler_gaps_total{device}                  counter: recorded gaps

The energy metrics also carry `node`: the Kubernetes node name from env NODE_NAME (downward API), empty elsewhere,
so one cluster-wide query tells the machines apart.

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

from oracle.measure.reading import Gap, Item, Reading, WorkGap, WorkReading

EPOCH_OUTCOMES = ("proved", "over_budget", "incomplete", "failed", "zero_work", "below_minimum")
PROOF_RESULTS = ("accepted", "rejected", "failed")
HEALTHY_SAMPLE_AGE_S = 30.0  # the sampler ticks 10 times a second; 30 s without a tick is a stalled node


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


class Metrics:
    """The node's metrics in their own registry (so tests and several nodes in one process do not collide)."""

    def __init__(self, registry: CollectorRegistry | None = None, node_name: str | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.node_name = os.environ.get("NODE_NAME", "") if node_name is None else node_name
        r = self.registry
        self.energy = Counter("ecoai_energy_joules", "Energy read from the sources, joules",
                              ["device", "method", "kind", "node"], registry=r)
        self.power = Gauge("ecoai_power_watts", "Mean power of the latest reading per device, watts",
                           ["device", "method", "kind", "node"], registry=r)
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

    def observe(self, items: Iterable[Item], now: float | None = None) -> None:
        """Count readings and gaps; mark the sampler alive at `now`."""
        for it in items:
            if isinstance(it, Reading):
                self.energy.labels(it.device, it.label, it.kind, self.node_name).inc(it.energy_mj / 1000.0)
                self.power.labels(it.device, it.label, it.kind, self.node_name).set(it.power_w)
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
        """Serve /metrics, /healthz and /readyz on host:port (port 0 picks a free one; see Exporter.port)."""
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        server = make_server(host, port, self.wsgi_app(), server_class, handler_class=_QuietHandler)
        thread = Thread(target=server.serve_forever, name="ecoai-exporter", daemon=True)
        thread.start()
        return Exporter(server, thread, host)
