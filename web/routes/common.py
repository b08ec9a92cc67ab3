"""What the page and API routes share: the app's state, input validation, lookups that 404, "verify again"."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import HTTPException, Path as PathParam, Query, Request
from starlette.concurrency import run_in_threadpool

from web.cache import is_fragment
from web.chain import Chain
from web.db.queries import Page, Reader, Row
from web.db.summaries import CLASS_SORTS
from web.footprints import NodeFootprints

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
MAX_EPOCH = 2**64 - 1
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")



class SortKey(str, Enum):
    """Leaderboard orderings: the keys of web.db.summaries.CLASS_SORTS (efficiency only within a class)."""

    efficiency = "efficiency"
    credits = "credits"
    eco_score = "eco_score"
    proofs = "proofs"


assert {k.value for k in SortKey} == set(CLASS_SORTS), "SortKey must list exactly the orderings the index ranks"

DEFAULT_VERIFY_CONCURRENCY = 2  # `ecoai web --verify-concurrency N`
VERIFY_RETRY_AFTER_S = 5


class VerifyGate:
    """"Verify again" costs ~0.7 s of CPU (the Python pairing check): at most `slots` run at once, a request
    beyond that is answered 429 with Retry-After, a second request for a proof being verified waits for that
    run, and a proof verified once is answered from the index (web.db.verifications). `runs` counts the
    verifications actually run. Used from the event loop only, so plain counters suffice."""

    def __init__(self, slots: int = DEFAULT_VERIFY_CONCURRENCY, retry_after_s: int = VERIFY_RETRY_AFTER_S) -> None:
        if slots < 1:
            raise ValueError("at least one concurrent verification")
        self.slots = slots
        self.retry_after_s = retry_after_s
        self.busy = 0
        self.runs = 0
        self.refused = 0
        self.inflight: dict[tuple[str, int, str], asyncio.Future[dict[str, Any]]] = {}


class Busy(Exception):
    """Every verification slot is taken: answer 429 with Retry-After."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many verifications are running; try again shortly")
        self.retry_after_s = retry_after_s


@dataclass
class WebState:
    """One app's handles: the index reader, the chain (None: no live reads), the running indexer, a notice, the
    index database (for the stored verifications; derived from the reader when not given), the gate of
    "verify again" and the node databases the nodes' own footprints are read from (web.footprints)."""

    reader: Reader
    chain: Chain | None
    notice: str | None
    indexer: Any = None  # web.indexer.IndexerThread while `follow` runs it
    database: Any = None  # web.db.engine.Database
    verify_gate: VerifyGate = field(default_factory=VerifyGate)
    footprints: NodeFootprints = field(default_factory=NodeFootprints)

    def index_database(self) -> Any:
        if self.database is None:  # Reader(database.reader): the bound method knows its Database
            self.database = getattr(getattr(self.reader, "_factory", None), "__self__", None)
        return self.database


def web_state(request: Request) -> WebState:
    return request.app.state.web


@functools.lru_cache(maxsize=4096)  # EIP-55 needs keccak: worth caching for the hot node pages
def parse_address(value: str) -> str:
    """0x + 40 hex digits; mixed case must be a valid EIP-55 checksum. Returns the checksummed form."""
    if not ADDRESS_RE.match(value):
        raise HTTPException(400, f"not an Ethereum address: {value[:64]!r} (expected 0x followed by 40 hex digits)")
    checksummed = to_checksum_address(value)  # one keccak: the checksum check compares against this form
    if value != value.lower() and value[2:] != value[2:].upper() and value != checksummed:
        raise HTTPException(400, f"address {value} has a wrong EIP-55 checksum")
    return checksummed


AddressParam = Annotated[str, PathParam(max_length=200, description="Ethereum address, 0x + 40 hex digits")]
EpochParam = Annotated[int, PathParam(ge=0, le=MAX_EPOCH, description="epoch number (uint64)")]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]
SizeQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="rows per page")]


ClassQuery = Annotated[str | None, Query(alias="class", max_length=64,
                                        description="efficiency class id, e.g. H200/llm-8b/token")]


def leaderboard_page(reader: Reader, sort: SortKey, class_id: str | None, page: int, size: int,
                     classes: list[Row] | None = None) -> tuple[Page, Row | None]:
    """One leaderboard page and the class it ranks within (its `classes` row, or None over all nodes):
    efficiency always within a class (the one with the most nodes unless named), the other orderings within the
    named class or over all nodes. 404: unknown class or page beyond the last. classes: reader.classes(), when
    the caller has it already."""
    if classes is None:
        classes = reader.classes()
    current = None
    if class_id is not None:
        current = next((c for c in classes if c["class_id"] == class_id), None)
        if current is None:
            raise HTTPException(404, f"no efficiency class {class_id[:64]!r} in the index")
    elif sort is SortKey.efficiency:
        if not classes:
            empty = Page([], page, size, 0)
            check_page(empty)
            return empty, None
        current = classes[0]
    board = reader.leaderboard(sort.value, page, size, None if current is None else str(current["class_id"]))
    check_page(board)
    return board, current


def check_page(page: Page) -> None:
    if page.page > page.pages:
        raise HTTPException(404, f"page {page.page} is beyond the last page ({page.pages})")


def is_fragment_request(request: Request) -> bool:
    """HTMX asks for a fragment, except when it restores history (then it needs the whole page)."""
    return is_fragment(request.scope["headers"])


PUBLIC_SIGNAL_NAMES = ("efficiency_uj_per_unit", "work_units_total", "epoch", "node", "methods", "commitment")


def public_signal_values(proof: Row) -> list[int]:
    """An indexed proof's public inputs in the efficiency circuit's (snarkjs) order, as GreenProof builds them:
    [τ, W, epoch, uint160(node), methods, commitment]."""
    return [int(proof["efficiency_uj_per_unit"]), int(proof["work_units"]), int(proof["epoch"]),
            int(proof["node"], 16), int(proof["methods"]), int(proof["commitment"])]


def public_signals(proof: Row) -> list[str]:
    """`public_signal_values` as decimal strings: snarkjs's public.json."""
    return [str(v) for v in public_signal_values(proof)]


def node_or_404(reader: Reader, address: str) -> Row:
    return _find_node(reader.node, address)


def node_and_class_or_404(reader: Reader, address: str) -> tuple[Row, Row | None]:
    """The node and its efficiency class row (None without one), in one lookup."""
    return _find_node(reader.node_and_class, address)


def _find_node(lookup: Callable[[str], Any], address: str) -> Any:
    # The index stores checksummed addresses only, so an exact match is a valid address: no keccak needed.
    found = lookup(address) if ADDRESS_RE.match(address) else None
    if found is not None:
        return found
    node_address = parse_address(address)
    found = lookup(node_address)
    if found is None:
        raise HTTPException(404, f"no node {node_address} in the index")
    return found


def proof_or_404(reader: Reader, address: str, epoch: int) -> Row:
    node_address = parse_address(address)
    # uint64 epochs above 2^63 cannot be stored (64-bit signed columns on both backends), so none is indexed.
    proof = reader.proof(node_address, epoch) if epoch < 2**63 else None
    if proof is None:
        raise HTTPException(404, f"no accepted proof for node {node_address} in epoch {epoch}")
    return proof


async def verify_again(state: WebState, address: str, epoch: int) -> dict[str, Any]:
    """Re-verify an indexed proof from the chain (Chain.verify_again), once: a stored result is answered from the
    index. 503 without a chain, 502 if it fails, Busy when every slot is taken."""
    p = proof_or_404(state.reader, address, epoch)
    node, tx_hash = p["node"], p["tx_hash"]
    stored = state.reader.verification(node, int(p["epoch"]), tx_hash)
    if stored is not None:
        return {**stored, "stored": True}
    if state.chain is None:
        raise HTTPException(503, "no chain configured for this server: cannot re-verify")
    gate = state.verify_gate
    key = (node, int(p["epoch"]), tx_hash)
    running = gate.inflight.get(key)
    if running is not None:  # the same proof is being verified: share that run's answer
        return await asyncio.shield(running)
    if gate.busy >= gate.slots:
        gate.refused += 1
        raise Busy(gate.retry_after_s)
    gate.busy += 1
    gate.runs += 1
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    gate.inflight[key] = future
    try:
        result = await run_in_threadpool(state.chain.verify_again, node, int(p["epoch"]), public_signal_values(p),
                                         tx_hash)
        if "error" not in result and result.get("python") is not None:
            database = state.index_database()
            if database is not None:
                from web.db.verifications import store_verification

                await run_in_threadpool(store_verification, database, node, int(p["epoch"]), tx_hash,
                                        int(p["block"]), result)
        future.set_result({**result, "stored": False})
        return {**result, "stored": False}
    except (OSError, ValueError) as exc:
        error = HTTPException(502, f"the chain did not answer: {type(exc).__name__}")
        future.set_exception(error)
        future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
        raise error from None
    except BaseException:
        future.cancel()  # waiters for the same proof see the cancellation and may ask again
        raise
    finally:
        gate.busy -= 1
        gate.inflight.pop(key, None)
