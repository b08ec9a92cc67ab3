"""Follows GreenProof and EcoCredit events into the web's SQLite index (web/db).

- Resumes from the cursor (last fully indexed block and its hash) stored in the database.
- Indexes only blocks with at least `confirmations` blocks on top of them.
- Idempotent: every event row is keyed by (tx_hash, log_index); a replayed range inserts nothing twice.
- Reorg-safe: before each step the cursor's hash is compared with the chain's; on a mismatch the store
  rolls back to the highest block whose recorded hash still matches (or the deployment block) and re-indexes.
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
from web3.exceptions import BlockNotFound

from oracle.conventions import WEI_PER_ECO, bytes32_to_label
from oracle.sqlite import transaction
from web.chain import Chain
from web.db.schema import get_meta, open_store, set_meta
from web.db.summaries import refresh, rollback_to

log = logging.getLogger("ecoai.web.indexer")

PARAM_EVENTS = ("HardwareClassSet", "RegionCarbonSet", "EpochLengthSet", "MaxEpochAgeSet")


def _hex(value: bytes | str) -> str:
    return HexBytes(value).to_0x_hex()


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
    updated_at: float = field(default_factory=time.time)


class Indexer:
    def __init__(self, db_path: Path, chain: Chain, confirmations: int = 2, batch_blocks: int = 2000) -> None:
        if confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        self.db_path = Path(db_path)
        self.chain = chain
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.status = IndexerStatus()
        self._topics = chain.event_topics()
        self._addresses = [chain.green_proof.address, chain.eco_credit.address]
        self.conn = open_store(self.db_path)
        self._bind_to_deployment()

    def close(self) -> None:
        self.conn.close()

    def _bind_to_deployment(self) -> None:
        """The store indexes one deployment; a store of another one (a fresh local chain) is emptied first.

        The index is a cache of public chain data, so emptying it loses nothing that cannot be re-read.
        """
        identity = f"{self.chain.chain_id}:{self.chain.green_proof.address}:{self.chain.start_block}"
        with transaction(self.conn):
            known = get_meta(self.conn, "deployment")
            if known is not None and known != identity:
                log.warning("index %s was built for deployment %s; re-indexing for %s", self.db_path, known, identity)
                rollback_to(self.conn, -1, "")
                self.conn.execute("DELETE FROM cursor")
            set_meta(self.conn, "deployment", identity)
            set_meta(self.conn, "chain_id", str(self.chain.chain_id))
            set_meta(self.conn, "green_proof", self.chain.green_proof.address)
            set_meta(self.conn, "eco_credit", self.chain.eco_credit.address)

    # --- one step -------------------------------------------------------------------------------------

    def _cursor(self) -> tuple[int, str | None]:
        row = self.conn.execute("SELECT block, hash FROM cursor WHERE id = 1").fetchone()
        if row is None:
            return self.chain.start_block - 1, None
        return int(row["block"]), str(row["hash"]) or None

    def _block_hash(self, number: int) -> str | None:
        try:
            return _hex(self.chain.w3.eth.get_block(number)["hash"])
        except BlockNotFound:
            return None

    def step(self) -> int:
        """Index the next batch of confirmed blocks; returns how many blocks it advanced (0: up to date)."""
        w3 = self.chain.w3
        head = int(w3.eth.block_number)
        self.status.head_block = head
        cursor, cursor_hash = self._cursor()
        if cursor_hash is not None and self._block_hash(cursor) != cursor_hash:
            self._rewind()
            cursor, _ = self._cursor()
        safe = head - self.confirmations
        if safe <= cursor:
            self.status.indexed_block = cursor
            return 0
        start, end = cursor + 1, min(safe, cursor + self.batch_blocks)
        logs = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": self._addresses})
        end_hash = self._block_hash(end)
        blocks: dict[int, tuple[str, int]] = {}
        for number in sorted({int(entry["blockNumber"]) for entry in logs}):
            block = w3.eth.get_block(number)
            blocks[number] = (_hex(block["hash"]), int(block["timestamp"]))
        if end_hash is None or any(blocks[int(e["blockNumber"])][0] != _hex(e["blockHash"]) for e in logs):
            return 0  # the chain moved under us mid-step; the next step re-checks from the cursor
        events = sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
        gas = self._gas_used({_hex(e["transactionHash"]) for e in events
                              if e["topics"] and self._topics.get(bytes(e["topics"][0]), (None, ""))[1] == "EpochProved"})
        with transaction(self.conn):
            nodes, epochs = self._apply(events, blocks, gas)
            self.conn.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?)",
                                  [(n, h, t) for n, (h, t) in blocks.items()])
            refresh(self.conn, nodes, epochs)
            self.conn.execute("INSERT INTO cursor VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                              " block = excluded.block, hash = excluded.hash", (end, end_hash))
        self.status.indexed_block = end
        self.status.updated_at = time.time()
        return end - cursor

    def _gas_used(self, tx_hashes: Iterable[str]) -> dict[str, int]:
        return {h: int(self.chain.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in tx_hashes}

    def _apply(self, logs: list[Any], blocks: dict[int, tuple[str, int]],
               gas: dict[str, int]) -> tuple[set[str], set[int]]:
        nodes: set[str] = set()
        epochs: set[int] = set()
        for entry in logs:
            topic = bytes(entry["topics"][0]) if entry["topics"] else b""
            if topic not in self._topics:
                continue
            contract, name = self._topics[topic]
            event = getattr(contract.events, name)().process_log(entry)
            args = event["args"]
            tx_hash, index, number = _hex(entry["transactionHash"]), int(entry["logIndex"]), int(entry["blockNumber"])
            timestamp = blocks[number][1]
            if name == "EpochProved":
                credits = int(args["credits"])
                self.conn.execute(
                    "INSERT OR IGNORE INTO proofs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (args["node"], int(args["epoch"]), args["beneficiary"], int(args["tier"]),
                     int(args["thresholdMj"]), str(int(args["commitment"])), int(args["carbonBoundMg"]),
                     str(credits), credits / WEI_PER_ECO, number, timestamp, tx_hash, index,
                     gas.get(tx_hash)))
                nodes.add(args["node"])
                epochs.add(int(args["epoch"]))
            elif name == "CreditsClaimed":
                amount = int(args["amount"])
                self.conn.execute("INSERT OR IGNORE INTO claims VALUES (?,?,?,?,?,?,?,?)",
                                  (tx_hash, index, args["beneficiary"], args["to"], str(amount),
                                   amount / WEI_PER_ECO, number, timestamp))
            elif name == "Transfer" and contract is self.chain.eco_credit:
                self.conn.execute("INSERT OR IGNORE INTO transfers VALUES (?,?,?,?,?,?)",
                                  (tx_hash, index, args["from"], args["to"], str(int(args["value"])), number))
            elif name == "NodeAdmitted":
                self.conn.execute("INSERT OR IGNORE INTO node_events VALUES (?,?,?,?,?,?,?,?)",
                                  (tx_hash, index, args["node"], "admitted", args["beneficiary"],
                                   bytes32_to_label(args["hardwareClass"]), bytes32_to_label(args["region"]), number))
                nodes.add(args["node"])
            elif name == "NodeRetired":
                self.conn.execute("INSERT OR IGNORE INTO node_events VALUES (?,?,?,?,?,?,?,?)",
                                  (tx_hash, index, args["node"], "retired", None, None, None, number))
                nodes.add(args["node"])
            elif name in PARAM_EVENTS:
                self.conn.execute("INSERT OR IGNORE INTO param_events VALUES (?,?,?,?,?)",
                                  (tx_hash, index, name, json.dumps({k: _jsonable(v) for k, v in args.items()}),
                                   number))
        return nodes, epochs

    def _rewind(self) -> None:
        """The cursor's block was replaced: roll back to the newest recorded block the chain still has."""
        fork, fork_hash = self.chain.start_block - 1, ""
        for row in self.conn.execute("SELECT number, hash FROM blocks ORDER BY number DESC").fetchall():
            if self._block_hash(int(row["number"])) == row["hash"]:
                fork, fork_hash = int(row["number"]), str(row["hash"])
                break
        with transaction(self.conn):
            rollback_to(self.conn, fork, fork_hash)
            if not fork_hash:
                self.conn.execute("DELETE FROM cursor")
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
            except Exception as exc:  # noqa: BLE001 - chain down, RPC errors, a locked DB: record, retry
                advanced = 0
                message = f"{type(exc).__name__}: {exc}"
                if message != self.status.last_error:
                    log.warning("indexer step failed (will retry): %s", message)
                self.status.last_error = message
            if not advanced:
                stop.wait(poll_interval)


class IndexerThread:
    """Runs an Indexer in a background thread with its own SQLite connection; stop() joins it."""

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
