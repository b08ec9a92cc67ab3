"""The epoch loop's metrics, on the node's Prometheus registry of oracle.metrics (whose names the alert rules in
oracle/monitoring/alerts.yml use): epochs by outcome, proofs by result, carbon, the energy budget; plus the
queue length, the RPC state and the latest submit's gas, which only the loop knows.

The over-budget alert is `ecoai_epochs_total{outcome="over_budget"}` rising (alert EcoAIEpochOverBudget); the
gauge `ecoai_oracle_epoch_over_budget` also says whether the latest closed epoch was over budget.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from oracle.metrics import Metrics
from oracle.node import state as st
from oracle.conventions import MJ_PER_KWH


class NodeMetrics:
    """The loop's LoopMetrics on the node's Prometheus registry."""

    def __init__(self, metrics: Metrics, region: str, carbon_g_per_kwh: int, budget_mj: int, epoch_s: int) -> None:
        self.metrics = metrics
        self.region = region
        self.carbon_g_per_kwh = carbon_g_per_kwh
        r = metrics.registry
        self.over_budget_now = Gauge("ecoai_oracle_epoch_over_budget",
                                     "1 while the latest closed epoch is over every threshold tier", registry=r)
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
        metrics.set_energy_budget(budget_mj, epoch_s)

    def epoch_closed(self, status: str, energy_mj: int) -> None:
        over = status == st.OVER_BUDGET
        self.over_budget_now.set(1 if over else 0)
        if status in (st.OVER_BUDGET, st.INCOMPLETE):
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

    def pending(self, count: int) -> None:
        self.pending_proofs.set(count)
