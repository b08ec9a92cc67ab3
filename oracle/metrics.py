"""Prometheus metrics of the oracle node and the exporter that serves them (prometheus-client), loopback by default.

Metric names (alert rules in oracle/monitoring/alerts.yml use them):
- ecoai_energy_joules_total{device, method, kind}   counter: energy read, per device and method label
- ecoai_power_watts{device, method, kind}           gauge: mean power of the device's latest reading
- ecoai_carbon_grams_total{region}                  counter: location-based CO2e of the energy counted
- ecoai_energy_budget_watts                         gauge: the epoch threshold as mean power (T / epoch length)
- ecoai_epochs_total{outcome}                       counter: proved, over_budget, incomplete, failed, ...
- ecoai_proofs_total{result}                        counter: accepted, rejected, failed, ...
- ecoai_sampler_last_sample_timestamp_seconds       gauge: unix time of the sampler's latest tick
- ecoai_sampler_gaps_total{device}                  counter: recorded gaps
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from oracle.measure.reading import Gap, Item, Reading

EPOCH_OUTCOMES = ("proved", "over_budget", "incomplete", "failed")
PROOF_RESULTS = ("accepted", "rejected", "failed")


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

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.energy = Counter("ecoai_energy_joules", "Energy read from the sources, joules",
                              ["device", "method", "kind"], registry=r)
        self.power = Gauge("ecoai_power_watts", "Mean power of the latest reading per device, watts",
                           ["device", "method", "kind"], registry=r)
        self.carbon = Counter("ecoai_carbon_grams", "Location-based CO2e of the energy counted, grams",
                              ["region"], registry=r)
        self.budget = Gauge("ecoai_energy_budget_watts", "Epoch energy threshold expressed as mean power, watts",
                            registry=r)
        self.epochs = Counter("ecoai_epochs", "Closed epochs by outcome", ["outcome"], registry=r)
        self.proofs = Counter("ecoai_proofs", "Proof attempts by result", ["result"], registry=r)
        self.last_sample = Gauge("ecoai_sampler_last_sample_timestamp_seconds",
                                 "Unix time of the sampler's latest tick", registry=r)
        self.gaps = Counter("ecoai_sampler_gaps", "Recorded measurement gaps", ["device"], registry=r)
        for outcome in EPOCH_OUTCOMES:  # export zeros so rate()/increase() work from the first scrape
            self.epochs.labels(outcome)
        for result in PROOF_RESULTS:
            self.proofs.labels(result)

    def observe(self, items: Iterable[Item], now: float | None = None) -> None:
        """Count readings and gaps; mark the sampler alive at `now`."""
        for it in items:
            if isinstance(it, Reading):
                self.energy.labels(it.device, it.label, it.kind).inc(it.energy_mj / 1000.0)
                self.power.labels(it.device, it.label, it.kind).set(it.power_w)
            elif isinstance(it, Gap):
                self.gaps.labels(it.device).inc()
        if now is not None:
            self.last_sample.set(now)

    def sink(self, items: list[Item], now: float) -> None:
        """Sampler sink."""
        self.observe(items, now)

    def add_carbon(self, grams: float, region: str) -> None:
        self.carbon.labels(region).inc(grams)

    def set_energy_budget(self, threshold_mj: int, epoch_length_s: float) -> None:
        self.budget.set(threshold_mj / 1000.0 / epoch_length_s)

    def epoch(self, outcome: str) -> None:
        """Count a closed epoch: proved, over_budget, incomplete, failed (other words are allowed)."""
        self.epochs.labels(outcome).inc()

    def proof(self, result: str) -> None:
        """Count a proof attempt: accepted, rejected, failed."""
        self.proofs.labels(result).inc()

    def start_exporter(self, port: int = 0, host: str = "127.0.0.1") -> Exporter:
        """Serve /metrics on host:port (port 0 picks a free one; see Exporter.port)."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return Exporter(server, thread, host)
