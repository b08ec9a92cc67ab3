"""What the page and API routes share: the app's state, input validation, lookups that 404, "verify again"."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import HTTPException, Path as PathParam, Query, Request
from starlette.concurrency import run_in_threadpool

from sqlalchemy.engine import RowMapping

from web.cache import is_fragment
from web.chain import Chain
from web.db.queries import Page, Reader
from web.db.summaries import SORTS

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
MAX_EPOCH = 2**64 - 1
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")



class SortKey(str, Enum):
    """Leaderboard orderings: the keys of web.db.summaries.SORTS."""

    credits = "credits"
    saved_share = "saved_share"
    proofs = "proofs"
    threshold_total = "threshold_total"


assert {k.value for k in SortKey} == set(SORTS), "SortKey must list exactly the orderings the index ranks"


@dataclass
class WebState:
    """One app's handles: the index reader, the chain (None: no live reads), the running indexer, a notice."""

    reader: Reader
    chain: Chain | None
    notice: str | None
    indexer: Any = None  # web.indexer.IndexerThread while `follow` runs it


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


def check_page(page: Page) -> None:
    if page.page > page.pages:
        raise HTTPException(404, f"page {page.page} is beyond the last page ({page.pages})")


def is_fragment_request(request: Request) -> bool:
    """HTMX asks for a fragment, except when it restores history (then it needs the whole page)."""
    return is_fragment(request.scope["headers"])


def public_signals(proof: RowMapping) -> list[str]:
    """An indexed proof's public inputs in snarkjs order (oracle.conventions.PUBLIC_SIGNALS), as GreenProof
    builds them."""
    return [str(proof["threshold_mj"]), str(proof["epoch"]), str(int(proof["node"], 16)), str(proof["commitment"])]


def node_or_404(reader: Reader, address: str) -> RowMapping:
    # The index stores checksummed addresses only, so an exact match is a valid address: no keccak needed.
    node = reader.node(address) if ADDRESS_RE.match(address) else None
    if node is not None:
        return node
    node_address = parse_address(address)
    node = reader.node(node_address)
    if node is None:
        raise HTTPException(404, f"no node {node_address} in the index")
    return node


def proof_or_404(reader: Reader, address: str, epoch: int) -> RowMapping:
    node_address = parse_address(address)
    # uint64 epochs above 2^63 cannot be stored (64-bit signed columns on both backends), so none is indexed.
    proof = reader.proof(node_address, epoch) if epoch < 2**63 else None
    if proof is None:
        raise HTTPException(404, f"no accepted proof for node {node_address} in epoch {epoch}")
    return proof


async def verify_again(state: WebState, address: str, epoch: int) -> dict[str, Any]:
    """Re-verify an indexed proof from the chain (Chain.verify_again); 503 without a chain, 502 if it fails."""
    p = proof_or_404(state.reader, address, epoch)
    if state.chain is None:
        raise HTTPException(503, "no chain configured for this server: cannot re-verify")
    try:
        return await run_in_threadpool(state.chain.verify_again, p["node"], int(p["epoch"]), int(p["threshold_mj"]),
                                       int(p["commitment"]), p["tx_hash"])
    except (OSError, ValueError) as exc:
        raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None
