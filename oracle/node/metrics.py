"""The epoch loop's metrics, on the node's Prometheus registry of oracle.metrics (whose names the alert rules in
oracle/monitoring/alerts.yml use): epochs by outcome, proofs by result, carbon, the energy bound; plus the
queue length, the RPC state and the latest submit's gas, which only the loop knows.

The over-budget alert is `ecoai_epochs_total{outcome="over_budget"}` rising (alert EcoAIEpochOverBudget); the
gauge `ecoai_oracle_epoch_over_budget` also says whether the latest closed epoch was over budget (energy per unit
of work over every efficiency tier). Zero-work epochs count as `ecoai_epochs_total{outcome="zero_work"}` (and the
gauge `ecoai_oracle_epoch_zero_work`). The node's own footprint (energy it spent sampling and proving,
estimated) is `ecoai_oracle_footprint_joules_total` and, per latest epoch, `ecoai_oracle_epoch_footprint_joules`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from oracle.metrics import Metrics
from oracle.node import state as st
from oracle.conventions import MJ_PER_KWH, energy_bound_mj


class NodeMetrics:
    """The loop's LoopMetrics on the node's Prometheus registry."""

    def __init__(self, metrics: Metrics, region: str, carbon_g_per_kwh: int, max_tier_uj_per_unit: int,
                 epoch_s: int) -> None:
        self.metrics = metrics
        self.region = region
        self.carbon_g_per_kwh = carbon_g_per_kwh
        self.max_tier = max_tier_uj_per_unit
        self.epoch_s = epoch_s
        # Boundary reads come every epoch_s / 64 s: /healthz must not fail between two of them.
        if 3 * epoch_s / 64 + 5 > 30:
            metrics.healthy_age_s = 3 * epoch_s / 64 + 5
        r = metrics.registry
        self.over_budget_now = Gauge("ecoai_oracle_epoch_over_budget",
                                     "1 while the latest closed epoch is over every efficiency tier", registry=r)
        self.proof_seconds = Histogram("ecoai_oracle_proof_seconds", "Time to prove one epoch",
                                       buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32), registry=r)
        self.pending_proofs = Gauge("ecoai_oracle_pending_proofs", "Proofs waiting to be accepted (queue length)",
                                    registry=r)
        self.rpc_is_down = Gauge("ecoai_oracle_rpc_down", "1 while the RPC endpoint is unreachable", registry=r)
        self.submit_gas = Gauge("ecoai_oracle_submit_gas", "Gas used by the latest accepted submit", registry=r)
        self.last_accepted = Gauge("ecoai_oracle_last_accepted_epoch", "Latest epoch accepted on chain", registry=r)
        self.fee_cap_now = Gauge("ecoai_oracle_fee_cap_exceeded",
                                 "1 while the next submit waits because the fees asked exceed the configured caps",
                                 registry=r)
        self.fee_cap_refusals = Counter("ecoai_oracle_fee_cap_refusals",
                                        "Submits not signed because fees or gas exceeded the caps", registry=r)
        self.reorgs = Counter("ecoai_oracle_reorged_epochs",
                              "Accepted epochs sent back to the queue because a reorg removed their tx", registry=r)
        self.zero_work_now = Gauge("ecoai_oracle_epoch_zero_work",
                                   "1 while the latest closed epoch did no work (nothing to prove)", registry=r)
        self.work_per_epoch = Gauge("ecoai_oracle_epoch_work_units", "Work units of the latest closed epoch",
                                    registry=r)
        self.energy_per_unit = Gauge("ecoai_oracle_epoch_energy_per_unit_microjoules",
                                     "Energy per unit of work of the latest closed epoch, µJ", registry=r)
        self.footprint_total = Counter("ecoai_oracle_footprint_joules",
                                       "Energy the node itself spent sampling and proving (estimated), joules",
                                       registry=r)
        self.footprint_epoch = Gauge("ecoai_oracle_epoch_footprint_joules",
                                     "The node's own energy for its latest closed epoch (estimated), joules",
                                     registry=r)
        self.batch_size = Gauge("ecoai_oracle_batch_size", "Epochs in the latest submitBatch transaction",
                                registry=r)
        metrics.set_energy_bound(0, max(epoch_s, 1))

    def epoch_closed(self, status: str, energy_mj: int, work_units: int = 0) -> None:
        over = status == st.OVER_BUDGET
        self.over_budget_now.set(1 if over else 0)
        self.zero_work_now.set(1 if status == st.ZERO_WORK else 0)
        self.work_per_epoch.set(work_units)
        if work_units:
            self.energy_per_unit.set(1000 * energy_mj / work_units)
        # The energy the epoch's work was allowed at the loosest (highest) tier, as mean power.
        self.metrics.set_energy_bound(energy_bound_mj(self.max_tier, work_units), max(self.epoch_s, 1))
        if status in st.NOT_PROVED:
            self.metrics.epoch(status)
        # Location-based carbon with GreenProof's factor for the node's region (the one the chain publishes).
        self.metrics.add_carbon(energy_mj / MJ_PER_KWH * self.carbon_g_per_kwh, self.region)

    def proof_made(self, seconds: float) -> None:
        self.proof_seconds.observe(seconds)
        self.metrics.epoch("proved")

    def proof_accepted(self, epoch: int, gas: int) -> None:
        self.metrics.proof("accepted")
        self.last_accepted.set(epoch)
        self.submit_gas.set(gas)

    def proof_failed(self, result: str) -> None:
        self.metrics.proof(result)
        self.metrics.epoch("failed")

    def rpc_down(self, down: bool) -> None:
        self.rpc_is_down.set(1 if down else 0)

    def fee_capped(self, capped: bool) -> None:
        self.fee_cap_now.set(1 if capped else 0)
        if capped:
            self.fee_cap_refusals.inc()

    def reorged(self) -> None:
        self.reorgs.inc()

    def footprint(self, epoch: int, energy_mj: int) -> None:
        self.footprint_total.inc(energy_mj / 1000)
        self.footprint_epoch.set(energy_mj / 1000)

    def batch_sent(self, size: int) -> None:
        self.batch_size.set(size)

    def pending(self, count: int) -> None:
        self.pending_proofs.set(count)
