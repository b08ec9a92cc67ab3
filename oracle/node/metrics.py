"""The epoch loop's Prometheus metrics (prometheus-client, default registry, served by the node's exporter).

`ecoai_oracle_epoch_over_budget` is the alert signal: 1 while the latest closed epoch exceeded every tier.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from oracle.node import state as st

EPOCHS = Counter("ecoai_oracle_epochs", "Epochs closed by the oracle, by outcome", ["status"])
OVER_BUDGET = Counter("ecoai_oracle_over_budget_epochs", "Epochs whose energy exceeded every threshold tier")
OVER_BUDGET_NOW = Gauge("ecoai_oracle_epoch_over_budget", "1 while the latest closed epoch is over budget (alert)")
EPOCH_ENERGY = Gauge("ecoai_oracle_epoch_energy_joules", "Energy of the latest closed epoch")
PROOF_SECONDS = Histogram(
    "ecoai_oracle_proof_seconds", "Time to prove one epoch", buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32)
)
ACCEPTED = Counter("ecoai_oracle_proofs_accepted", "Proofs accepted by GreenProof")
FAILED = Counter("ecoai_oracle_proofs_failed", "Proofs GreenProof refused")
LAST_ACCEPTED_EPOCH = Gauge("ecoai_oracle_last_accepted_epoch", "Latest epoch accepted on chain")
SUBMIT_GAS = Gauge("ecoai_oracle_submit_gas", "Gas used by the latest accepted submit")
PENDING = Gauge("ecoai_oracle_pending_proofs", "Proofs waiting to be accepted (queue length)")
RPC_DOWN = Gauge("ecoai_oracle_rpc_down", "1 while the RPC endpoint is unreachable")


class PrometheusMetrics:
    def epoch_closed(self, status: str, energy_mj: int, methods: Sequence[str]) -> None:
        EPOCHS.labels(status=status).inc()
        EPOCH_ENERGY.set(energy_mj / 1000)
        over = status == st.OVER_BUDGET
        OVER_BUDGET_NOW.set(1 if over else 0)
        if over:
            OVER_BUDGET.inc()

    def proof_made(self, seconds: float) -> None:
        PROOF_SECONDS.observe(seconds)

    def proof_accepted(self, epoch: int, gas: int) -> None:
        ACCEPTED.inc()
        LAST_ACCEPTED_EPOCH.set(epoch)
        SUBMIT_GAS.set(gas)

    def proof_failed(self, reason: str) -> None:
        FAILED.inc()

    def rpc_down(self, down: bool) -> None:
        RPC_DOWN.set(1 if down else 0)

    def pending(self, count: int) -> None:
        PENDING.set(count)
