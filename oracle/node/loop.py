"""The epoch loop: measure → close the epoch into N (energy, work) pairs → pick an efficiency tier → prove →
submit (alone, in a batch of the node's own epochs, or through a relay) → record.

Every step reads its input from `NodeState` and records its outcome there before the next step acts, so the
loop is also its own crash recovery: started again, it simply continues from whatever the database says.
RPC outages never stop measuring: proofs wait in the pending queue, retried with backoff and jitter.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oracle.conventions import N_INTERVALS, mj_to_kwh
from oracle.node import state as st
from oracle.node.chain import (
    BatchItem,
    EfficiencyClassView,
    FeeCapExceeded,
    GreenProofClient,
    RpcUnavailable,
    SubmitRejected,
)
from oracle.node.ports import EpochProver, LoopMetrics, Meter, NoLoopMetrics
from oracle.node.relay_client import RelayRefused, RelayUnavailable, hand_over
from oracle.node.retry import Backoff
from oracle.node.schedule import EpochSchedule
from oracle.node.state import EpochRecord, NodeState
from oracle.node.tiers import pick_tier, unmeasured_intervals
from oracle.conventions import label_to_bytes32 as label_bytes
from oracle.zk import ProofInputError, ProverFailed

log = logging.getLogger("ecoai.oracle")

# Refusals that pass with time: the chain's clock has not reached the epoch's end yet, or governance paused it.
RETRYABLE_REVERTS = ("EpochNotEnded", "EnforcedPause")
# Refusals that may mean governance changed the class's tiers since the epoch was closed.
TIER_REVERTS = ("TierMismatch", "UnknownTier", "InvalidProof")
ZERO_WORK_NOTE = "zero work: nothing to prove"
# A handed-over epoch the relay has not settled after this long goes back to the node's own queue.
RELAY_PATIENCE_FACTOR = 4
RELAY_PATIENCE_MIN_S = 60.0
RELAY_RECLAIMED = "back in the node's own queue:"  # the note of an epoch taken back from the relay
MAX_SEND_ATTEMPTS = 5  # signed transactions per epoch before it is recorded as failed (never loops forever)
MAX_PROVER_FAILURES = 3  # worker failures for one epoch before it is recorded as failed
# Accepted epochs whose block is at most this many confirmations-windows deep are re-checked against the canonical
# chain whenever the head moves: a reorg that drops their transaction sends them back to the queue.
REORG_WINDOW_FACTOR = 4
REORG_WINDOW_MIN_BLOCKS = 16


def fault_point(name: str) -> None:
    """Crash-test hook: ECOAI_FAULT=<name> SIGKILLs this process here (no cleanup, like a power cut).

    Named points: sampling (mid-epoch), proving (after the salt is stored, before the proof), after_send
    (transaction broadcast, receipt not yet recorded).
    """
    if os.environ.get("ECOAI_FAULT") == name:
        log.warning("fault injection: SIGKILL at %s", name)
        for handler in logging.getLogger().handlers + logging.getLogger("ecoai").handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class ChainNotReady(Exception):
    """The submission must wait (chain clock behind the epoch's end, contract paused): retried with backoff."""


@dataclass
class RunResult:
    epochs: list[EpochRecord] = field(default_factory=list)
    pending_left: int = 0


class OracleLoop:
    def __init__(
        self,
        *,
        state: NodeState,
        client: GreenProofClient,
        meter: Meter,
        prover_factory: Callable[[], EpochProver],
        efficiency: EfficiencyClassView,
        schedule: EpochSchedule,
        random_salt: Callable[[], int],
        confirmations: int = 1,
        max_backoff_s: float = 30.0,
        metrics: LoopMetrics | None = None,
        defer_until: Callable[[EpochRecord], float] | None = None,
        clock: Callable[[], float] = time.time,
        stop_event: threading.Event | None = None,
        batch_size: int = 1,
        batch_wait_s: float = 0.0,
        relay_url: str = "",
        footprint: Any = None,
    ) -> None:
        self.state = state
        self.client = client
        self.node = client.address
        self.meter = meter
        self.prover_factory = prover_factory
        self._prover: EpochProver | None = None
        self.efficiency = efficiency
        self.schedule = schedule
        self.random_salt = random_salt
        self.confirmations = confirmations
        self.backoff = Backoff(cap_s=max_backoff_s)
        self.metrics = metrics or NoLoopMetrics()
        self.defer_until = defer_until
        self.clock = clock
        self.stop_event = stop_event or threading.Event()
        self.batch_size = max(1, batch_size)
        self.batch_wait_s = batch_wait_s
        self.relay_url = relay_url
        self.footprint = footprint
        self._footprint_carry = 0
        self._flush_batches = False  # set when the run ends: send a partial batch instead of waiting
        self._proved_seen: dict[int, float] = {}
        self._handed_at: dict[int, float] = {}
        self._next_try = 0.0
        self._rpc_was_down = False
        self._prover_failures: dict[int, int] = {}
        self._last_checked_head = -1

    @property
    def tiers(self) -> list[int]:
        return self.efficiency.tiers_uj_per_unit

    @property
    def hardware_class(self) -> str:
        return self.efficiency.class_id

    @property
    def L(self) -> int:  # noqa: N802 - the epoch length of the schedule's current segment
        return self.schedule.current_length

    # -- steps: each moves an epoch out of one recorded state -------------------------------------------------
    def close_step(self, rec: EpochRecord) -> str:
        """open → proving | over_budget | zero_work | below_minimum | incomplete: aggregate the epoch into its N
        (energy, work) pairs and pick the lowest efficiency tier it meets. Returns the status."""
        start, end = self.schedule.bounds(rec.epoch)
        energy = self.meter.epoch_energy(rec.epoch, start, end)
        gaps = unmeasured_intervals(energy)
        work_gaps = energy.work_gap_intervals() if energy.work_counters else list(range(N_INTERVALS))
        total = sum(energy.intervals_mj)
        work = energy.work_total if energy.work_units else 0
        eff = self.efficiency
        tier = tau = salt = None
        if gaps:
            status = st.INCOMPLETE
            note = f"{len(gaps)} of {N_INTERVALS} intervals without energy readings; not proved (it would hide energy)"
        elif not energy.work_complete:
            status = st.INCOMPLETE
            note = (f"{len(work_gaps)} of {N_INTERVALS} intervals without work readings; not proved "
                    "(the work of a gap is unknown, never filled)" if energy.work_counters else
                    "no work source: not proved (energy per unit of work needs a work counter)")
        elif work == 0:
            status, note = st.ZERO_WORK, ZERO_WORK_NOTE
        elif work < eff.min_work_per_epoch:
            status = st.BELOW_MINIMUM
            note = (f"below the class minimum: {work} {eff.unit}(s) < {eff.min_work_per_epoch} per epoch; "
                    "not proved (GreenProof would refuse it)")
        else:
            tier = pick_tier(total, work, self.tiers)
            if tier is None:
                status = st.OVER_BUDGET
                note = (f"over budget: {1000 * total / work:.1f} µJ per {eff.unit} exceeds every tier "
                        f"(highest {max(self.tiers, default=0)} µJ per {eff.unit})")
            else:
                status = st.PROVING
                tau = self.tiers[tier]
                salt = self.random_salt()
                note = f"tier {tier}: {1000 * total / work:.1f} µJ per {eff.unit} <= {tau}"
        footprint_mj = footprint_method = None
        if self.footprint is not None:
            footprint_mj = self._footprint_carry + self.footprint.take_mj()
            footprint_method = self.footprint.method
            self._footprint_carry = 0
        status = self.state.record_closed(self.node, rec.epoch, energy, status, gaps, work_gaps, tier, tau, salt,
                                          note, footprint_mj, footprint_method)
        self.metrics.epoch_closed(status, total, work)
        if footprint_mj is not None:
            self.metrics.footprint(rec.epoch, footprint_mj)
        methods = ", ".join(sorted(energy.by_method)) or "no source"
        if status == st.OVER_BUDGET:
            log.warning(
                "ALERT epoch %d over budget: %d mJ (%.6f kWh, %s) for %d %s(s) = %.1f µJ per %s exceeds every "
                "efficiency tier of %s; no proof submitted",
                rec.epoch, total, mj_to_kwh(total), methods, work, eff.unit, 1000 * total / work, eff.unit,
                eff.class_id,
            )
        elif status == st.ZERO_WORK:
            log.info("epoch %d: %d mJ (%s), 0 %ss: %s", rec.epoch, total, methods, eff.unit, ZERO_WORK_NOTE)
        elif status in (st.INCOMPLETE, st.BELOW_MINIMUM):
            log.warning("epoch %d %s: %s", rec.epoch, status.replace("_", " "), note)
        else:
            log.info(
                "epoch %d closed: %d mJ (%s) for %d %s(s) = %.1f µJ per %s -> tier %d (%d µJ per %s)", rec.epoch,
                total, methods, work, eff.unit, 1000 * total / work, eff.unit, tier, tau, eff.unit,
            )
        return status

    def prove_step(self, rec: EpochRecord) -> None:
        """proving → proved (or failed after deterministic or repeated prover failures)."""
        assert rec.intervals_mj is not None and rec.efficiency_uj_per_unit is not None and rec.salt is not None
        assert rec.work_units is not None and rec.methods is not None
        fault_point("proving")
        if self.footprint is not None:
            self._footprint_carry += self.footprint.take_mj()
        if self._prover is None:
            self._prover = self.prover_factory()
        started = time.perf_counter()
        try:
            result = self._prover.prove_epoch(
                rec.intervals_mj, rec.work_units, rec.salt, rec.efficiency_uj_per_unit, rec.epoch,
                int(self.node, 16), rec.methods,
            )
        except ProofInputError as exc:  # deterministic: proving again cannot help
            self._fail(rec, f"proving failed ({type(exc).__name__}: {exc})", "failed")
            return
        except ProverFailed as exc:  # the worker died or misbehaved: try again a few times, then give up
            failures = self._prover_failures.get(rec.epoch, 0) + 1
            self._prover_failures[rec.epoch] = failures
            if failures >= MAX_PROVER_FAILURES:
                self._fail(rec, f"proving failed {failures} times ({exc})", "failed")
            else:
                log.warning("epoch %d: proving failed (%s); trying again", rec.epoch, exc)
            return
        seconds = time.perf_counter() - started
        self.state.record_proof(self.node, rec.epoch, result.commitment, result.proof, result.bundle, seconds)
        if self.footprint is not None:
            spent = self.footprint.take_mj()
            self.state.add_footprint(self.node, rec.epoch, spent)
            self.metrics.footprint(rec.epoch, spent)
        self.metrics.proof_made(seconds)
        log.info("epoch %d proved in %.2f s (commitment %s…)", rec.epoch, seconds, hex(result.commitment)[:14])

    def submit_step(self, rec: EpochRecord) -> None:
        """Move one pending proof (proved or sending) towards `accepted`; raises RpcUnavailable when the endpoint
        is down. One handler per state; each returns the record it leaves, or None when the epoch is settled."""
        # A crash between broadcast and record must never make us submit twice: the chain is the truth.
        if self._record_if_accepted(rec):
            return
        if rec.status == st.HANDED_OVER:
            self._watch_relay(rec)
            return
        current: EpochRecord | None = rec
        if current.status == st.SENDING:
            current = self._recheck_sending(current)
        if current is not None and current.status == st.PROVED:
            current = self._sign_and_send(current)
        if current is not None and current.status == st.SENDING:
            self._await_receipt(current)

    def _record_if_accepted(self, rec: EpochRecord) -> bool:
        """Any pending state: GreenProof already accepted the epoch (e.g. sent before a crash) → accepted once its
        transaction has `confirmations` canonical blocks. True when the chain has it (recorded, or still
        confirming): nothing else to do for it in this pass."""
        if not self.client.is_accepted(rec.epoch):
            return False
        receipt = self.client.receipt(rec.tx_hash) if rec.tx_hash else None
        if receipt is None or receipt.status != 1:
            receipt = self.client.acceptance_event(rec.epoch)
        depth = 0 if receipt is None else self.client.confirmations_of(receipt)
        if receipt is None or depth < self.confirmations:
            # The endpoint's word alone is not final: wait for the transaction to be buried deep enough.
            log.info("epoch %d: accepted on chain, %d of %d confirmation(s); waiting", rec.epoch, depth,
                     self.confirmations)
            return True
        self.state.record_accepted(
            self.node, rec.epoch, receipt.tx_hash, receipt.gas_used, receipt.block,
            f"already accepted on chain ({depth} confirmations)",
        )
        log.info("epoch %d already accepted on chain (tx %s, block %d, %d confirmation(s)); recorded", rec.epoch,
                 receipt.tx_hash, receipt.block, depth)
        self.metrics.proof_accepted(rec.epoch, receipt.gas_used)
        return True

    def _recheck_sending(self, rec: EpochRecord) -> EpochRecord:
        """sending: a reverted or unminable stored transaction goes back to proved; a lost one is rebroadcast."""
        assert rec.tx_hash is not None and rec.raw_tx is not None
        receipt = self.client.receipt(rec.tx_hash)
        if receipt is not None and receipt.status != 1:
            self.state.unsign(self.node, rec.epoch, f"tx {rec.tx_hash} reverted")
            return self._reload(rec)
        if receipt is None and not self.client.in_pool(rec.tx_hash):
            try:
                outcome = self.client.broadcast(rec.raw_tx, rec.tx_hash)
            except SubmitRejected as exc:  # e.g. fees no longer acceptable: sign afresh
                outcome, reason = "stale-nonce", exc.reason
            else:
                reason = f"nonce {rec.nonce} taken by another transaction"
            if outcome == "stale-nonce":
                self.state.unsign(self.node, rec.epoch, reason)
                return self._reload(rec)
            log.info("epoch %d: rebroadcast stored transaction %s (nonce %d)", rec.epoch, rec.tx_hash, rec.nonce)
        return rec

    def _sign_and_send(self, rec: EpochRecord) -> EpochRecord | None:
        """proved → sending: dry-run, sign, record, broadcast. None when the epoch was failed or re-tiered."""
        assert rec.tier is not None and rec.commitment is not None and rec.proof is not None
        assert rec.work_total is not None and rec.methods is not None
        if rec.attempts >= MAX_SEND_ATTEMPTS:
            self._fail(rec, f"gave up after {rec.attempts} transactions that were not accepted ({rec.note})", "failed")
            return None
        try:
            nonce, raw, tx_hash = self.client.sign_submit(rec.epoch, rec.tier, rec.work_total, rec.methods,
                                                          rec.commitment, rec.proof)
        except FeeCapExceeded as exc:
            # Never sign above the caps: the epoch stays proved in the queue and is tried again with backoff.
            log.warning("ALERT epoch %d not submitted: %s; it waits in the queue (nothing signed)", rec.epoch, exc)
            self.metrics.fee_capped(True)
            raise ChainNotReady(str(exc)) from None
        except SubmitRejected as exc:
            if exc.reason in RETRYABLE_REVERTS:
                log.info("epoch %d: not yet submittable (%s); will retry", rec.epoch, exc.reason)
                raise ChainNotReady(exc.reason) from None
            if not (exc.reason in TIER_REVERTS and self._retier(rec)):
                self._fail(rec, f"GreenProof refused the proof ({exc.reason})", "rejected")
            return None
        self.metrics.fee_capped(False)
        self.state.record_signed(self.node, rec.epoch, nonce, raw, tx_hash)
        try:
            self.client.broadcast(raw, tx_hash)
        except SubmitRejected as exc:
            self.state.unsign(self.node, rec.epoch, exc.reason)
            self._fail(self._reload(rec), exc.reason, "rejected")
            return None
        log.info("epoch %d submitted: tx %s (nonce %d)", rec.epoch, tx_hash, nonce)
        fault_point("after_send")
        return self._reload(rec)

    def _await_receipt(self, rec: EpochRecord) -> None:
        """sending → accepted once mined with enough canonical confirmations and GreenProof says so; a revert
        goes back to proved."""
        assert rec.tx_hash is not None
        receipt = self.client.wait_receipt(rec.tx_hash, timeout_s=5.0, confirmations=self.confirmations)
        if receipt is None:
            log.info("epoch %d: tx %s not yet mined with %d confirmation(s); will check again", rec.epoch,
                     rec.tx_hash, self.confirmations)
            return
        if receipt.status == 1:
            if not self.client.is_accepted(rec.epoch):
                # A receipt GreenProof does not back (a lying endpoint, or a reorg in between): not accepted.
                log.warning("epoch %d: tx %s has a receipt but GreenProof does not list the epoch as accepted; "
                            "will check again", rec.epoch, receipt.tx_hash)
                return
            self.state.record_accepted(
                self.node, rec.epoch, receipt.tx_hash, receipt.gas_used, receipt.block,
                f"accepted ({self.confirmations} confirmations)",
            )
            self.metrics.proof_accepted(rec.epoch, receipt.gas_used)
            log.info(
                "epoch %d accepted on chain: tx %s, block %d, gas %d",
                rec.epoch,
                receipt.tx_hash,
                receipt.block,
                receipt.gas_used,
            )
        else:
            # The next pass dry-runs it again and records the contract's reason.
            self.state.unsign(self.node, rec.epoch, f"tx {receipt.tx_hash} reverted")
            log.warning("epoch %d: tx %s reverted; will re-check", rec.epoch, receipt.tx_hash)

    def recheck_accepted(self) -> None:
        """Accepted epochs in the last few confirmation windows: if a reorg removed their transaction (no receipt,
        its block no longer canonical, or GreenProof no longer lists the epoch), back to the queue. Runs when
        the head moved."""
        head = self.client.block_number()
        if head == self._last_checked_head:
            return
        window = max(REORG_WINDOW_MIN_BLOCKS, REORG_WINDOW_FACTOR * self.confirmations)
        for rec in self.state.with_status(self.node, (st.ACCEPTED,)):
            if rec.block is None or rec.tx_hash is None or rec.block < head - window:
                continue
            receipt = self.client.receipt(rec.tx_hash)
            if receipt is not None and receipt.status == 1 and self.client.confirmations_of(receipt) > 0 \
                    and self.client.is_accepted(rec.epoch):
                continue
            # The stored signed transaction is still ours to rebroadcast (its nonce is free again after the
            # reorg); without it the epoch is signed afresh.
            status = self.state.reopen(self.node, rec.epoch, f"reorg removed tx {rec.tx_hash} (block {rec.block})")
            self.metrics.reorged()
            log.warning("ALERT epoch %d: a chain reorganisation removed its accepted tx %s (block %d); back in the "
                        "queue as %s", rec.epoch, rec.tx_hash, rec.block, status)
        self._last_checked_head = head

    def _retier(self, rec: EpochRecord) -> bool:
        """After a tier refusal: if governance changed the class since the epoch was closed, move the epoch to
        the efficiency tier its energy and work meet now (True); False when the tiers are unchanged (a real
        refusal)."""
        fresh = self.client.efficiency_class(label_bytes(self.efficiency.class_id))
        if fresh.tiers_uj_per_unit == self.tiers:
            return False
        self.efficiency = fresh
        tiers = fresh.tiers_uj_per_unit
        assert rec.energy_mj is not None and rec.efficiency_uj_per_unit is not None and rec.work_total is not None
        if rec.efficiency_uj_per_unit in tiers:  # the proof still holds: same tier value, another index
            tier: int | None = tiers.index(rec.efficiency_uj_per_unit)
            tau: int | None = rec.efficiency_uj_per_unit
            reprove = False
        else:
            tier = pick_tier(rec.energy_mj, rec.work_total, tiers)
            tau = None if tier is None else tiers[tier]
            reprove = True
        status = self.state.retier(self.node, rec.epoch, tier, tau, reprove,
                                   f"tiers changed on chain to {tiers} µJ per {fresh.unit}")
        if status == st.OVER_BUDGET:
            self.metrics.epoch_closed(status, rec.energy_mj, rec.work_total)
            log.warning("ALERT epoch %d over budget after a tier change: %.1f µJ per %s exceeds every tier %s; no "
                        "proof submitted", rec.epoch, 1000 * rec.energy_mj / rec.work_total, fresh.unit, tiers)
        else:
            log.info("epoch %d: tiers changed on chain to %s µJ per %s; now tier %d (%d)%s", rec.epoch, tiers,
                     fresh.unit, tier, tau, ", proving again" if reprove else ", same proof")
        return True

    # -- batches and relays ------------------------------------------------------------------------------
    def _send_batch(self, chunk: list[EpochRecord]) -> None:
        """proved × n → sending: one submitBatch transaction for up to batch_size of the node's own epochs,
        signed and stored (all rows, one database transaction) before it is broadcast: the crash guarantees
        of a single submit. A refusal that is not about timing falls back to single submits, which name each
        epoch's own reason (and re-tier it when governance changed the tiers)."""
        items = []
        for rec in chunk:
            assert rec.tier is not None and rec.commitment is not None and rec.proof is not None
            assert rec.work_total is not None and rec.methods is not None
            items.append(BatchItem(rec.epoch, rec.tier, rec.work_total, rec.methods, rec.commitment, rec.proof))
        epochs = [r.epoch for r in chunk]
        try:
            nonce, raw, tx_hash = self.client.sign_batch(items)
        except FeeCapExceeded as exc:
            log.warning("ALERT epochs %s not submitted: %s; they wait in the queue (nothing signed)", epochs, exc)
            self.metrics.fee_capped(True)
            raise ChainNotReady(str(exc)) from None
        except SubmitRejected as exc:
            if exc.reason in RETRYABLE_REVERTS:
                log.info("epochs %s: not yet submittable (%s); will retry", epochs, exc.reason)
                raise ChainNotReady(exc.reason) from None
            log.warning("batch of epochs %s refused (%s); submitting them one by one", epochs, exc.reason)
            for rec in chunk:
                self.submit_step(self._reload(rec))
            return
        self.metrics.fee_capped(False)
        self.state.record_signed(self.node, epochs, nonce, raw, tx_hash)
        try:
            self.client.broadcast(raw, tx_hash)
        except SubmitRejected as exc:
            for rec in chunk:
                self.state.unsign(self.node, rec.epoch, exc.reason)
                self._fail(self._reload(rec), exc.reason, "rejected")
            return
        self.metrics.batch_sent(len(chunk))
        log.info("epochs %s submitted in one batch: tx %s (nonce %d)", epochs, tx_hash, nonce)
        fault_point("after_send")
        for rec in chunk:
            self._await_receipt(self._reload(rec))

    def _hand_to_relay(self, rec: EpochRecord) -> None:
        """proved → handed_over: the relay verifies the proof and settles it in one of its batches. A refusal
        (RelayRefused: invalid, or already accepted) → the node submits it itself now; an unreachable relay →
        tried again with backoff, and submitted directly once it has waited out the relay patience."""
        assert rec.bundle is not None and rec.tier is not None
        try:
            hand_over(self.relay_url, rec.bundle, tier=rec.tier, node=self.node)
        except RelayUnavailable as exc:
            waited = self.clock() - self._proved_seen.get(rec.epoch, self.clock())
            if waited <= self._relay_patience():
                log.warning("epoch %d: %s; handing it over again later", rec.epoch, exc)
                raise ChainNotReady(str(exc)) from None
            log.warning("epoch %d: relay %s unavailable for %.0f s (%s); submitting it directly", rec.epoch,
                        self.relay_url, waited, exc)
            self.submit_step(rec)
            return
        except (RelayRefused, ValueError) as exc:  # the relay refused it: the node submits it itself
            log.warning("epoch %d: relay %s refused the proof (%s); submitting it directly", rec.epoch,
                        self.relay_url, exc)
            self.submit_step(rec)
            return
        self.state.record_handed_over(self.node, rec.epoch, f"handed over to relay {self.relay_url}")
        self._handed_at[rec.epoch] = self.clock()
        log.info("epoch %d handed over to relay %s; watching GreenProof.isAccepted", rec.epoch, self.relay_url)

    def _relay_patience(self) -> float:
        return max(RELAY_PATIENCE_MIN_S, RELAY_PATIENCE_FACTOR * max(self.batch_wait_s, self.L))

    def _watch_relay(self, rec: EpochRecord) -> None:
        """handed_over: not accepted yet. After a patience window, back to the node's own queue."""
        since = self._handed_at.setdefault(rec.epoch, self.clock())
        patience = self._relay_patience()
        if self.clock() - since > patience:
            self.state.reclaim(self.node, rec.epoch,
                               f"{RELAY_RECLAIMED} relay {self.relay_url} did not settle it in {patience:.0f} s")
            self._handed_at.pop(rec.epoch, None)
            log.warning("epoch %d: relay %s did not settle it within %.0f s; submitting it directly", rec.epoch,
                        self.relay_url, patience)

    def _fail(self, rec: EpochRecord, reason: str, result: str) -> None:
        """Record the epoch as failed; `result` is "rejected" (GreenProof refused it) or "failed" (ours)."""
        self.state.record_failed(self.node, rec.epoch, reason)
        self.metrics.proof_failed(result)
        log.error("epoch %d: %s; the epoch is recorded as failed", rec.epoch, reason)

    def _reload(self, rec: EpochRecord) -> EpochRecord:
        fresh = self.state.get(self.node, rec.epoch)
        assert fresh is not None
        return fresh

    def drain(self) -> None:
        """Settle what is in flight, then submit every proved epoch that is due, oldest first: alone
        (batch_size 1), in batches of up to batch_size (waiting up to batch_wait_s for a batch to fill), or
        through the relay. Stops at the first RPC failure."""
        self.recheck_accepted()
        now = self.clock()
        for rec in self.state.with_status(self.node, (st.SENDING, st.HANDED_OVER)):
            self.submit_step(rec)
        due = []
        for rec in self.state.with_status(self.node, (st.PROVED,)):
            if self.defer_until is not None and self.defer_until(rec) > now:
                continue
            if self._record_if_accepted(rec):  # sent before a crash, or by a relay
                continue
            due.append(rec)
            self._proved_seen.setdefault(rec.epoch, now)
        if self.relay_url:
            # An epoch the relay did not settle in time is the node's own again (never handed over twice).
            own = [r for r in due if (r.note or "").startswith(RELAY_RECLAIMED)]
            for rec in due:
                if rec not in own:
                    try:
                        self._hand_to_relay(rec)
                    except ChainNotReady:  # the relay does not answer: the node's own epochs still go out
                        if not own:
                            raise
                        break
            due = own
        if self.batch_size <= 1:
            for rec in due:
                self.submit_step(rec)
            return
        while due:
            oldest = min(self._proved_seen.get(r.epoch, now) for r in due)
            if len(due) < self.batch_size and not self._flush_batches and now - oldest < self.batch_wait_s:
                return  # wait for the batch to fill (at most batch_wait_s after its first proof)
            chunk, due = due[: self.batch_size], due[self.batch_size :]
            if len(chunk) == 1:
                self.submit_step(chunk[0])
            else:
                self._send_batch(chunk)

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, epochs: int | None = None, drain_timeout_s: float | None = None) -> RunResult:
        """Measure `epochs` epochs (None: until stopped), then wait for their proofs to settle.

        Epochs left open by a previous run are resumed first (and count towards `epochs`).
        """
        result = RunResult()
        measured: list[int] = []
        for rec in self.state.with_status(self.node, (st.OPEN, *st.PENDING)):
            length = self.schedule.length_of(rec.epoch)
            if rec.epoch_seconds != length:
                # This number names another time span in GreenProof's schedule than the one measured.
                self.state.record_failed(
                    self.node,
                    rec.epoch,
                    f"epoch length changed from {rec.epoch_seconds} s to {length} s before it was accepted",
                )
                log.warning(
                    "epoch %d (of %d s) dropped: GreenProof's schedule gives it %d s",
                    rec.epoch,
                    rec.epoch_seconds,
                    length,
                )
        for rec in self.state.with_status(self.node, (st.OPEN,)):
            measured.append(rec.epoch)
            log.info("resuming epoch %d left open by a previous run", rec.epoch)
        for rec in self.state.with_status(self.node, st.PENDING):
            log.info("resuming epoch %d: %s", rec.epoch, rec.status)
            if rec.epoch not in measured:
                measured.append(rec.epoch)
        # The epoch in progress at start is only partly observable: begin at the next boundary.
        first = self.schedule.epoch_at(self.clock()) + 1
        if measured and not self.state.with_status(self.node, (st.OPEN,)):
            first = max(first, max(measured) + 1)
        new_target = None if epochs is None else max(epochs - len(measured), 0)
        opened = 0
        next_epoch = first
        drain_timeout_s = drain_timeout_s if drain_timeout_s is not None else max(
            60.0, 4.0 * self.L, 2.0 * self.batch_wait_s)
        self._flush_batches = False
        drain_deadline: float | None = None
        self.meter.start()
        try:
            while not self.stop_event.is_set():
                now = self.clock()
                current = self.schedule.epoch_at(now)
                # Every epoch from `first` on is opened, even one a slow step let pass: the sampler kept storing.
                while next_epoch <= current and (new_target is None or opened < new_target):
                    if next_epoch not in measured:
                        if self.state.open_epoch(self.node, next_epoch, self.schedule.length_of(next_epoch)):
                            log.info("epoch %d open: measuring [%d, %d)", next_epoch,
                                     *self.schedule.bounds(next_epoch))
                        measured.append(next_epoch)
                        opened += 1
                    next_epoch += 1
                for rec in self.state.with_status(self.node, (st.OPEN,)):
                    end = self.schedule.bounds(rec.epoch)[1]
                    if end <= now and self.meter.ready(end, now):
                        self.close_step(rec)
                    else:
                        fault_point("sampling")
                for rec in self.state.with_status(self.node, (st.PROVING,)):
                    self.prove_step(rec)
                    if self.stop_event.is_set():
                        break
                self._drain_with_backoff()
                pending = self.state.with_status(self.node, st.PENDING)
                self.metrics.pending(len(pending))
                open_left = self.state.with_status(self.node, (st.OPEN,))
                if new_target is not None and opened >= new_target and not open_left:
                    if not self._flush_batches and any(r.status == st.PROVED for r in pending):
                        self._flush_batches = True  # nothing more will be proved: send the partial batch now
                        self._next_try = 0.0
                        continue
                    if not pending:
                        break
                    drain_deadline = drain_deadline or self.clock() + drain_timeout_s
                    if self.clock() >= drain_deadline:
                        log.warning(
                            "%d proof(s) still pending after %.0f s; they stay queued for the next start",
                            len(pending),
                            drain_timeout_s,
                        )
                        break
                self._sleep(pending)
        finally:
            self.meter.stop()
            close = getattr(self._prover, "close", None)
            if close is not None:
                close()
            self._prover = None
        result.epochs = [r for r in self.state.all(self.node) if r.epoch in set(measured)]
        result.pending_left = len(self.state.with_status(self.node, st.PENDING))
        return result

    def _drain_with_backoff(self) -> None:
        if self.clock() < self._next_try:
            return
        try:
            self.drain()
        except ChainNotReady:
            self._next_try = self.clock() + min(self.backoff.next_delay(), max(1.0, self.L / 2))
            return
        except RpcUnavailable as exc:
            delay = self.backoff.next_delay()
            self._next_try = self.clock() + delay
            pending = len(self.state.with_status(self.node, st.PENDING))
            log.warning("RPC unavailable (%s); %d proof(s) queued, retrying in %.1f s", exc, pending, delay)
            self._rpc_was_down = True
            self.metrics.rpc_down(True)
            return
        if self._rpc_was_down:
            log.info("RPC endpoint %s is back; queue drained", self.client.url)
            self._rpc_was_down = False
            self.metrics.rpc_down(False)
        self.backoff.reset()
        self._next_try = 0.0

    def _sleep(self, pending: list[EpochRecord]) -> None:
        now = self.clock()
        next_boundary = self.schedule.bounds(self.schedule.epoch_at(now))[1] + self.meter.settle_s()
        wake = min(next_boundary, now + 0.5)
        if any(self.schedule.bounds(r.epoch)[1] <= now for r in self.state.with_status(self.node, (st.OPEN,))):
            wake = now + 0.05  # an ended epoch waits for its last readings
        if pending and self._next_try > now:
            wake = min(wake, self._next_try)
        self.stop_event.wait(max(0.01, wake - now))
