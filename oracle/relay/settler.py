"""The relay's batch loop: queued proofs → one checked, dry-run, signed, stored, broadcast `submitBatch` → settled.

Each pass does one thing. An unresolved batch comes first (receipt? settled or released; in the pool? wait;
neither? rebroadcast the same raw transaction), so the relay never has two batch transactions in flight and never
signs a second one for the same items. Only then does it build a new batch from the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from oracle.conventions import calldata_to_proof
from oracle.node.chain import FeeCapExceeded, Receipt, RpcUnavailable, SubmitRejected
# The node's crash-test hook (ECOAI_FAULT=<point> SIGKILLs the process there); the relay's points are
# relay_queued (hand-over committed, not yet answered), relay_signed (batch tx stored, not broadcast) and
# relay_after_send (broadcast, receipt not recorded).
from oracle.node.loop import fault_point
from oracle.relay.chain import BatchRejected
from oracle.relay.queue import DROPPED, QUEUED, REVERTED, Batch, Item, RelayQueue
from oracle.zk.errors import MalformedProof
from oracle.zk.verifier import batch_check, check

log = logging.getLogger("ecoai.relay")

# Errors that say this item is already accepted on chain (by its node, or another relay).
ALREADY_ACCEPTED = {"EpochAlreadyProved"}
# Errors after which the item may succeed later: it stays queued and sits out this batch.
NOT_YET = {"EpochNotEnded"}
# Errors after which nothing can be sent now, whatever the items.
WAIT_ALL = {"EnforcedPause"}
NOT_YET_RETRY_S = 5.0


class Chain(Protocol):
    def is_accepted(self, node: str, epoch: int) -> bool: ...
    def dry_run(self, items: Sequence[Item]) -> int: ...
    def sign_batch(self, items: Sequence[Item]) -> tuple[int, str, str]: ...
    def broadcast(self, raw_tx: str, tx_hash: str) -> str: ...
    def receipt(self, tx_hash: str) -> Receipt | None: ...
    def in_pool(self, tx_hash: str) -> bool: ...


def _describe(rejection: BatchRejected) -> str:
    return str(rejection) or "reverted"


class Settler:
    """Drains the queue in batches of up to `batch_size`, sent when that many are queued or when the oldest has
    waited `interval_s`."""

    def __init__(self, queue: RelayQueue, chain: Chain, vk: dict, batch_size: int, interval_s: float,
                 max_gas: int | None = None) -> None:
        self.queue = queue
        self.chain = chain
        self.vk = vk
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.max_gas = max_gas  # a batch whose gas (with the signer's margin) exceeds it is halved
        self._not_before: dict[tuple[str, int], float] = {}  # items that sit out until their epoch ends on chain

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        while not stop.is_set():
            try:
                busy = self.step()
            except RpcUnavailable as exc:
                log.warning("RPC unavailable, retrying: %s", exc)
                busy = False
                stop.wait(2.0)
            except FeeCapExceeded as exc:
                log.warning("batch waits: %s", exc)
                busy = False
                stop.wait(self.interval_s)
            except Exception:  # the relay keeps serving; the queue is durable, the next pass retries
                log.exception("settler pass failed")
                busy = False
                stop.wait(2.0)
            if not busy:
                stop.wait(poll_s)

    def step(self, now: float | None = None) -> bool:
        """One pass; True when it changed something (the loop then runs again at once)."""
        now = time.time() if now is None else now
        batch = self.queue.open_batch()
        if batch is not None:
            return self._advance(batch)
        items = self._due(now)
        return bool(items) and self._send(items)

    def _due(self, now: float) -> list[Item]:
        queued = [i for i in self.queue.items(QUEUED) if self._not_before.get(i.key, 0.0) <= now]
        if not queued:
            return []
        if len(queued) >= self.batch_size or now - queued[0].received_at >= self.interval_s:
            return queued[: self.batch_size]
        return []

    # -- an unresolved batch -------------------------------------------------------------------------------
    def _advance(self, batch: Batch) -> bool:
        receipt = self.chain.receipt(batch.tx_hash)
        if receipt is not None:
            if receipt.status == 1:
                self.queue.settle_batch(batch.id, receipt.tx_hash, receipt.block, receipt.gas_used)
                log.info("batch %d settled: %d epoch(s) in tx %s (block %d, %d gas, %d gas per epoch)", batch.id,
                         batch.size, receipt.tx_hash, receipt.block, receipt.gas_used,
                         receipt.gas_used // max(batch.size, 1))
            else:
                # Mined but reverted (state changed between dry run and block): the items go back to the queue,
                # the next dry run names the offender.
                self.queue.release_batch(batch.id, REVERTED, f"tx {batch.tx_hash} reverted in block {receipt.block}")
                log.warning("batch %d reverted on chain (tx %s); its items are queued again", batch.id, batch.tx_hash)
            return True
        if self.chain.in_pool(batch.tx_hash):
            return False  # pending: wait for it to be mined
        # Neither mined nor pending (killed before broadcast, or the pool dropped it): the same signed bytes.
        try:
            outcome = self.chain.broadcast(batch.raw_tx, batch.tx_hash)
        except SubmitRejected as exc:
            self.queue.release_batch(batch.id, DROPPED, f"rebroadcast refused: {exc.reason}")
            log.warning("batch %d: rebroadcast refused (%s); its items are queued again", batch.id, exc.reason)
            return True
        if outcome == "stale-nonce":
            self.queue.release_batch(batch.id, DROPPED, f"nonce {batch.nonce} was used by another transaction")
            log.warning("batch %d: nonce %d went to another transaction; its items are queued again",
                        batch.id, batch.nonce)
            return True
        log.info("batch %d: rebroadcast tx %s (nonce %d): %s", batch.id, batch.tx_hash, batch.nonce, outcome)
        return False

    # -- a new batch ---------------------------------------------------------------------------------------
    def _send(self, items: list[Item]) -> bool:
        live = []
        for item in items:  # re-checked here: its node may have submitted it itself since it was queued
            if self.chain.is_accepted(item.node, item.epoch):
                self.queue.settled_elsewhere(item.key, "already accepted on chain by another transaction")
                log.info("%s epoch %d is already accepted on chain: dropped from the batch", item.node, item.epoch)
            else:
                live.append(item)
        live = self._verified(live)
        gas = None
        while live:
            try:
                gas = self.chain.dry_run(live)
            except BatchRejected as rejection:
                if rejection.name in WAIT_ALL:
                    log.warning("batch waits: %s", _describe(rejection))
                    return False
                live = self._without_offenders(live, rejection)
                continue
            if self.max_gas is None or gas * 5 // 4 + 10_000 <= self.max_gas or len(live) == 1:
                break
            log.info("batch of %d needs %d gas, over --max-gas %d: halving it", len(live), gas, self.max_gas)
            live = live[: len(live) // 2]
            gas = None
        if not live or gas is None:
            return True
        try:
            nonce, raw, tx_hash = self.chain.sign_batch(live)
        except SubmitRejected as exc:  # the chain moved between the two dry runs: the next pass names the item
            log.warning("batch not signed, its dry run now reverts (%s): trying again", exc.reason)
            return False
        batch_id = self.queue.record_batch([i.key for i in live], nonce, raw, tx_hash)
        fault_point("relay_signed")
        try:
            outcome = self.chain.broadcast(raw, tx_hash)
        except SubmitRejected as exc:
            self.queue.release_batch(batch_id, DROPPED, f"broadcast refused: {exc.reason}")
            log.warning("batch %d: broadcast refused (%s); its items are queued again", batch_id, exc.reason)
            return True
        fault_point("relay_after_send")
        log.info("batch %d: %d epoch(s) sent in tx %s (nonce %d, gas estimate %d): %s", batch_id, len(live), tx_hash,
                 nonce, gas, outcome)
        return True

    def _verified(self, items: list[Item]) -> list[Item]:
        """Cheap insurance before paying gas: one batch check of every proof (each was checked at intake); when
        it fails, check each and fail the ones that do not verify."""
        if not items:
            return items
        pairs = [(calldata_to_proof(i.proof), i.public_signals) for i in items]
        started = time.perf_counter()
        try:
            reason = batch_check(self.vk, pairs)
        except MalformedProof as exc:
            reason = str(exc)
        elapsed = time.perf_counter() - started
        log.info("batch verification of %d proof(s): %.3f s, %.1f ms per proof", len(items), elapsed,
                 1000 * elapsed / len(items))
        if reason is None:
            return items
        log.warning("batch verification failed (%s): checking each proof", reason)
        good = []
        for item, (proof, signals) in zip(items, pairs):
            try:
                single = check(self.vk, proof, signals)
            except MalformedProof as exc:
                single = str(exc)
            if single is None:
                good.append(item)
            else:
                self.queue.fail(item.key, f"proof does not verify: {single}")
        return good

    def _without_offenders(self, live: list[Item], rejection: BatchRejected) -> list[Item]:
        """The batch minus the item(s) the revert names, each recorded (failed, settled elsewhere, or sitting
        out). Custom errors that carry node and epoch name their item; otherwise each item is dry-run alone."""
        named = self._named(live, rejection)
        verdicts = {item.key: rejection for item in named}
        if not named:
            for item in live:
                try:
                    self.chain.dry_run([item])
                except BatchRejected as single:
                    verdicts[item.key] = single
            if not verdicts:
                # Each passes alone but not together (e.g. the gas of the whole): send them one batch at a time.
                log.warning("batch of %d rejected (%s) though each item passes alone: halving it", len(live),
                            _describe(rejection))
                return live[: max(1, len(live) // 2)] if len(live) > 1 else []
        for item in live:
            verdict = verdicts.get(item.key)
            if verdict is None:
                continue
            if verdict.name in ALREADY_ACCEPTED:
                self.queue.settled_elsewhere(item.key, f"already accepted on chain ({_describe(verdict)})")
            elif verdict.name in NOT_YET:
                self._not_before[item.key] = time.time() + NOT_YET_RETRY_S
                log.info("%s epoch %d sits out this batch: %s", item.node, item.epoch, _describe(verdict))
            elif verdict.name in WAIT_ALL:
                continue
            else:
                self.queue.fail(item.key, f"GreenProof refuses it: {_describe(verdict)}")
                log.warning("%s epoch %d failed: %s", item.node, item.epoch, _describe(verdict))
        return [item for item in live if item.key not in verdicts]

    @staticmethod
    def _named(live: list[Item], rejection: BatchRejected) -> list[Item]:
        args = {k.lstrip("_").lower(): v for k, v in rejection.args_.items()}
        if "index" in args and isinstance(args["index"], int) and 0 <= args["index"] < len(live):
            return [live[args["index"]]]
        epoch, node = args.get("epoch"), args.get("node")
        if epoch is None and node is None:
            return []
        matches = [i for i in live if (epoch is None or i.epoch == epoch)
                   and (node is None or i.node.lower() == str(node).lower())]
        # Both named: that item. One named (NodeNotActive(node): all of the node's items; EpochTooOld(epoch, …)
        # names no node): only when it picks exactly one item, else each is dry-run alone.
        return matches if (epoch is not None and node is not None) or len(matches) == 1 or epoch is None else []
