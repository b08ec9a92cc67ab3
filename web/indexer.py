"""Follows GreenProof, EcoCredit and (where deployed) RetirementCertificate events into the web's index (web/db).

- Resumes from the cursor (last fully indexed block and its hash) stored in the database.
- Indexes only blocks with at least `confirmations` blocks on top of them.
- Idempotent: every event row is keyed by (tx_hash, log_index); a replayed range inserts nothing twice.
- Reorg-safe: before each step the cursor's hash is compared with the chain's; on a mismatch the store
  rolls back to the highest block whose recorded hash still matches (or the deployment block) and re-indexes.
- Exactly one indexer writes (web.db.lock): a second one waits for the lock instead of double-indexing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound

from sqlalchemy import delete, select

from oracle.conventions import WEI_PER_ECO, bytes32_to_label, decode_epoch_record
from web.chain import Chain
from web.db.engine import Database
from web.db.lock import IndexerLock, LockBusy, LockLost
from web.db.queries import Parameters, Reader
from web.db.schema import (PARAM_EVENTS, batches, blocks, claims, cursor, get_meta, insert_ignore, node_events,
                           param_events, proofs, retirements, set_cursor, set_meta, transaction, transfers)
from web.db.summaries import range_totals, refresh, rollback_to, totals_difference

log = logging.getLogger("ecoai.web.indexer")


def _hex(value: bytes | str) -> str:
    return HexBytes(value).to_0x_hex()


def _checksum(address: Any) -> str:
    return Web3.to_checksum_address(address if isinstance(address, str) else HexBytes(address).to_0x_hex())


def _epoch_bounds(schedule: list[dict[str, int]], epoch: int) -> tuple[int | None, int | None]:
    """(start, end) unix seconds of `epoch` under the schedule's segments (as GreenProof.epochBounds)."""
    for segment in reversed(schedule):
        if segment["first_epoch"] <= epoch:
            start = segment["origin"] + (epoch - segment["first_epoch"]) * segment["length"]
            if start >= 2**63 or start + segment["length"] >= 2**63:
                return None, None
            return start, start + segment["length"]
    return None, None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes32_to_label(value) if len(value) == 32 else _hex(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # JSON readers in browsers lose precision above 2^53
    return value


@dataclass
class IndexerStatus:
    indexed_block: int | None = None
    head_block: int | None = None
    last_error: str | None = None
    reorgs: int = 0
    waiting_for: str | None = None  # the holder of the indexer lock while this one waits for it
    updated_at: float = field(default_factory=time.time)


class Indexer:
    def __init__(self, db: Database | Path | str, chain: Chain, confirmations: int = 2, batch_blocks: int = 2000,
                 owner: str | None = None, lock_ttl_s: float = 30.0, migrate: bool = True) -> None:
        if confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        self._own_db = not isinstance(db, Database)
        self.db = Database(db) if not isinstance(db, Database) else db
        self.chain = chain
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.status = IndexerStatus()
        self._topics = chain.event_topics()
        self._addresses = [c.address for c in chain.indexed_contracts]
        if migrate:
            self.db.upgrade()
        # One dedicated connection for the indexer's life: it holds the lock (PostgreSQL: the session's
        # advisory lock) and makes every write, so a writer that lost its session cannot commit.
        self.conn = self.db.engine.connect()
        self.lock = IndexerLock(self.conn, owner, ttl_s=lock_ttl_s)

    def close(self) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            self.lock.release()
        except Exception as exc:  # noqa: BLE001 - the database is gone: the lock went with the session/lease
            log.warning("could not release the indexer lock: %s", exc)
        finally:
            self.conn.close()
            if self._own_db:
                self.db.dispose()

    def acquire(self) -> None:
        """Take the indexer lock (raises LockBusy naming the holder), then bind the index to the deployment."""
        if self.lock.held:
            return
        if not self.lock.try_acquire():
            raise LockBusy(self.lock.holder() or "another indexer")
        log.info("indexer lock taken by %s", self.lock.owner)
        self.status.waiting_for = None
        self._bind_to_deployment()

    def _bind_to_deployment(self) -> None:
        """The store indexes one deployment; a store of another one (a fresh local chain) is emptied first.

        The index is a cache of public chain data, so emptying it loses nothing that cannot be re-read.
        """
        identity = f"{self.chain.chain_id}:{self.chain.green_proof.address}:{self.chain.start_block}"
        with transaction(self.conn):
            self.lock.confirm()
            known = get_meta(self.conn, "deployment")
            if known is not None and known != identity:
                log.warning("index %s was built for deployment %s; re-indexing for %s", self.db.display, known,
                            identity)
                rollback_to(self.conn, -1, "")
                self.conn.execute(delete(cursor))
            set_meta(self.conn, "deployment", identity)
            set_meta(self.conn, "chain_id", str(self.chain.chain_id))
            set_meta(self.conn, "green_proof", self.chain.green_proof.address)
            set_meta(self.conn, "eco_credit", self.chain.eco_credit.address)

    # --- one step -------------------------------------------------------------------------------------

    def _cursor(self) -> tuple[int, str | None]:
        with transaction(self.conn):
            row = self.conn.execute(select(cursor.c.block, cursor.c.hash).where(cursor.c.id == 1)).first()
        if row is None:
            return self.chain.start_block - 1, None
        return int(row[0]), str(row[1]) or None

    def _block_hash(self, number: int) -> str | None:
        try:
            return _hex(self.chain.w3.eth.get_block(number)["hash"])
        except BlockNotFound:
            return None

    def step(self) -> int:
        """Index the next batch of confirmed blocks; returns how many blocks it advanced (0: up to date)."""
        self.acquire()
        self.lock.keep_alive()
        w3 = self.chain.w3
        head = int(w3.eth.block_number)
        self.status.head_block = head
        cursor_block, cursor_hash = self._cursor()
        if cursor_hash is not None and self._block_hash(cursor_block) != cursor_hash:
            self._rewind()
            cursor_block, _ = self._cursor()
        safe = head - self.confirmations
        if safe <= cursor_block:
            self.status.indexed_block = cursor_block
            return 0
        start, end = cursor_block + 1, min(safe, cursor_block + self.batch_blocks)
        logs = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": self._addresses})
        end_hash = self._block_hash(end)
        block_info: dict[int, tuple[str, int]] = {}
        for number in sorted({int(entry["blockNumber"]) for entry in logs}):
            block = w3.eth.get_block(number)
            block_info[number] = (_hex(block["hash"]), int(block["timestamp"]))
        if end_hash is None or any(block_info[int(e["blockNumber"])][0] != _hex(e["blockHash"]) for e in logs):
            return 0  # the chain moved under us mid-step; the next step re-checks from the cursor
        events = sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
        receipts = self._receipts({_hex(e["transactionHash"]) for e in events if self._event_name(e) == "EpochProved"})
        with transaction(self.conn):
            self.lock.confirm()  # fencing: a lease lost while we read the chain rolls this batch back
            governance = Reader(self.conn).parameters()
            rows, nodes, epochs = self._decode(events, block_info, receipts, governance)
            present = range_totals(self.conn, cursor_block, end)  # rows a replay finds already there (usually none)
            for table, table_rows in rows.items():
                insert_ignore(self.conn, table, table_rows)
            insert_ignore(self.conn, blocks, [{"number": n, "hash": h, "timestamp": t}
                                              for n, (h, t) in block_info.items()])
            refresh(self.conn, None if "" in nodes else nodes, epochs,
                    totals_difference(range_totals(self.conn, cursor_block, end), present))
            set_cursor(self.conn, end, end_hash)
        self.status.indexed_block = end
        self.status.updated_at = time.time()
        return end - cursor_block

    def _event_name(self, entry: Any) -> str | None:
        if not entry["topics"]:
            return None
        found = self._topics.get((_checksum(entry["address"]), bytes(entry["topics"][0])))
        return None if found is None else found[1]

    def _receipts(self, tx_hashes: Iterable[str]) -> dict[str, tuple[int, str, dict[tuple[str, int], str]]]:
        """tx hash → (gas used, sender, {(node, epoch): proof JSON}) of the transactions that settled epochs; the
        proofs come from the calldata of `submit` / `submitBatch` (none for a call through another contract)."""
        out: dict[str, tuple[int, str, dict[tuple[str, int], str]]] = {}
        for h in tx_hashes:
            receipt = self.chain.w3.eth.get_transaction_receipt(h)
            tx = self.chain.w3.eth.get_transaction(h)
            out[h] = (int(receipt["gasUsed"]), str(receipt["from"]), self.chain.proofs_in(tx))
        return out

    def _decode(self, logs: list[Any], block_info: dict[int, tuple[str, int]],
                receipts: dict[str, tuple[int, str, dict[tuple[str, int], str]]],
                governance: Parameters) -> tuple[dict[Any, list[dict[str, Any]]], set[str], set[int]]:
        """The rows each event adds (per table, in chain order) and the nodes and epochs they touch.

        `governance` holds the classes and the epoch schedule indexed before this batch; the batch's own
        governance events update it in chain order, so each proof gets the class baseline and epoch bounds in
        force when it was accepted."""
        rows: dict[Any, list[dict[str, Any]]] = {proofs: [], batches: [], claims: [], transfers: [],
                                                 retirements: [], node_events: [], param_events: []}
        nodes: set[str] = set()
        epochs: set[int] = set()
        baselines = {cid: c["baseline_uj_per_unit"] for cid, c in governance.classes.items()}
        schedule = list(governance.schedule)
        per_tx: dict[str, int] = {}
        decoded = []
        for entry in logs:
            topic = bytes(entry["topics"][0]) if entry["topics"] else b""
            found = self._topics.get((_checksum(entry["address"]), topic))
            if found is None:
                continue
            contract, name = found
            decoded.append((entry, contract, name, getattr(contract.events, name)().process_log(entry)["args"]))
            if name == "EpochProved":
                tx_hash = _hex(entry["transactionHash"])
                per_tx[tx_hash] = per_tx.get(tx_hash, 0) + 1
        for entry, contract, name, args in decoded:
            tx_hash, index, number = _hex(entry["transactionHash"]), int(entry["logIndex"]), int(entry["blockNumber"])
            key = {"tx_hash": tx_hash, "log_index": index}
            timestamp = block_info[number][1]
            if name == "EpochProved":
                record = decode_epoch_record(args["record"], args["amounts"])
                credits = record.credits_wei
                epoch = int(args["epoch"])
                class_id = bytes32_to_label(args["classId"])
                start, end = _epoch_bounds(schedule, epoch)
                gas_used, sender, tx_proofs = receipts.get(tx_hash, (None, None, {}))
                rows[proofs].append({
                    "node": args["node"], "epoch": epoch, "beneficiary": record.beneficiary, "class_id": class_id,
                    "tier": record.tier, "efficiency_uj_per_unit": record.efficiency_uj_per_unit,
                    "work_units": record.work_units, "methods": record.methods,
                    "commitment": str(int(args["commitment"])), "energy_bound_mj": record.energy_bound_mj,
                    "carbon_bound_mg": record.carbon_bound_mg, "credits_wei": str(credits),
                    "credits_eco": credits / WEI_PER_ECO, "baseline_uj_per_unit": baselines.get(class_id),
                    "epoch_start": start, "epoch_end": end, "block": number, "timestamp": timestamp, **key,
                    "gas_used": gas_used, "batch_size": per_tx.get(tx_hash, 1), "settled_by": sender,
                    "proof": tx_proofs.get((args["node"], epoch))})
                nodes.add(args["node"])
                epochs.add(epoch)
            elif name == "BatchSettled":
                rows[batches].append({**key, "relayer": args["relayer"], "count": int(args["count"]),
                                      "batch_hash": _hex(args["batchHash"]), "block": number})
            elif name == "CreditsClaimed":
                amount = int(args["amount"])
                rows[claims].append({**key, "beneficiary": args["beneficiary"], "recipient": args["to"],
                                     "amount_wei": str(amount), "amount_eco": amount / WEI_PER_ECO,
                                     "block": number, "timestamp": timestamp})
            elif name == "Transfer" and contract is self.chain.eco_credit:
                rows[transfers].append({**key, "sender": args["from"], "recipient": args["to"],
                                        "amount_wei": str(int(args["value"])), "block": number})
            elif name == "Retired" and contract is self.chain.certificate:
                amount = int(args["amount"])
                rows[retirements].append({
                    "token_id": int(args["tokenId"]), "holder": args["holder"], "amount_wei": str(amount),
                    "amount_eco": amount / WEI_PER_ECO, "beneficiary_name": str(args["beneficiaryName"]),
                    "message": str(args["message"]), "block": number, "timestamp": timestamp, **key})
            elif name == "NodeAdmitted":
                rows[node_events].append({**key, "node": args["node"], "kind": "admitted",
                                          "beneficiary": args["beneficiary"],
                                          "class_id": bytes32_to_label(args["classId"]),
                                          "region": bytes32_to_label(args["region"]), "label": str(args["label"]),
                                          "admitted_at": int(args["admittedAt"]), "block": number})
                nodes.add(args["node"])
            elif name == "NodeRetired":
                rows[node_events].append({**key, "node": args["node"], "kind": "retired", "beneficiary": None,
                                          "class_id": None, "region": None, "label": None, "admitted_at": None,
                                          "block": number})
                nodes.add(args["node"])
            elif name in PARAM_EVENTS and contract is self.chain.green_proof:
                values = {k: _jsonable(v) for k, v in args.items()}
                rows[param_events].append({**key, "name": name, "block": number, "args": json.dumps(values)})
                if name == "EfficiencyClassSet":
                    baselines[str(values["classId"])] = int(args["baselineUjPerUnit"])
                    nodes.add("")  # class labels (hardware, unit) of every node may change: refresh all below
                elif name == "EpochScheduleChanged":
                    segment = {"origin": int(args["origin"]), "first_epoch": int(args["firstEpoch"]),
                               "length": int(args["length"])}
                    schedule = [g for g in schedule if g["first_epoch"] < segment["first_epoch"]] + [segment]
        return rows, nodes, epochs

    def _rewind(self) -> None:
        """The cursor's block was replaced: roll back to the newest recorded block the chain still has."""
        fork, fork_hash = self.chain.start_block - 1, ""
        with transaction(self.conn):
            recorded = self.conn.execute(select(blocks.c.number, blocks.c.hash).order_by(blocks.c.number.desc())).all()
        for number, block_hash in recorded:  # chain reads outside any transaction: no lock held meanwhile
            if self._block_hash(int(number)) == block_hash:
                fork, fork_hash = int(number), str(block_hash)
                break
        with transaction(self.conn):
            self.lock.confirm()
            rollback_to(self.conn, fork, fork_hash)
            if not fork_hash:
                self.conn.execute(delete(cursor))
        self.status.reorgs += 1
        self.status.indexed_block = fork
        log.warning("chain reorganised below the indexed cursor: rolled back to block %d", fork)

    # --- following --------------------------------------------------------------------------------------

    def sync(self) -> int:
        """Index until up to date with the confirmed head; returns the indexed block."""
        while self.step():
            pass
        return self._cursor()[0]

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Follow the chain until `stop` is set; errors (chain unreachable) are recorded and retried."""
        while not stop.is_set():
            try:
                advanced = self.step()
                self.status.last_error = None
            except LockBusy as busy:  # another indexer writes: wait for it to stop (or its lease to expire)
                advanced = 0
                holder = str(busy)
                if self.status.waiting_for is None or holder.split(" (")[0] != self.status.waiting_for.split(" (")[0]:
                    log.info("waiting for the indexer lock held by %s", holder)
                self.status.waiting_for = holder
            except LockLost as lost:
                advanced = 0
                log.warning("%s: stopped writing, waiting to take the lock again", lost)
            except Exception as exc:  # noqa: BLE001 - chain down, RPC errors, a locked DB: record, retry
                advanced = 0
                message = f"{type(exc).__name__}: {exc}"
                if message != self.status.last_error:
                    log.warning("indexer step failed (will retry): %s", message)
                self.status.last_error = message
            if not advanced:
                stop.wait(poll_interval)


class IndexerThread:
    """Runs an Indexer in a background thread with its own database connection; stop() joins it."""

    def __init__(self, indexer: Indexer, poll_interval: float = 1.0) -> None:
        self.indexer = indexer
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ecoai-indexer", daemon=True)

    def _run(self) -> None:
        try:
            self.indexer.run(self._stop, self.poll_interval)
        finally:
            self.indexer.close()

    def start(self) -> IndexerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
