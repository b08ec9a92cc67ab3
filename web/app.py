"""The EcoAI web dApp: server-rendered pages (Jinja2, autoescaped), HTMX fragments and a JSON API.

`create_app(db_path, ...)` builds the FastAPI application over an indexed SQLite store. With a chain
(`deployment` + `rpc_url`) it also reads live account state for the claim page and re-verifies proofs;
with `follow=True` it runs the indexer in a background thread for the application's lifetime.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from oracle.chain.deployment import Deployment
from oracle.paths import REPO_ROOT
from web import store
from web.cache import PageCache, PageCacheMiddleware, is_fragment
from web.chain import Chain
from web.views import fmt_eco, make_env, proof_rows

WEB_DIR = Path(__file__).resolve().parent
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
MAX_EPOCH = 2**64 - 1
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")

# Only our own origin: no inline scripts or styles, no CDN, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class SortKey(str, Enum):
    credits = "credits"
    score = "score"
    proofs = "proofs"
    energy = "energy"


# --- input validation ----------------------------------------------------------------------------------

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


CACHED_PAGE_RE = re.compile(r"^/(?:leaderboard|nodes/[^/]+|proofs/[^/]+/[^/]+)?$")


def is_cached_page(path: str) -> bool:
    """The HTML pages that show only indexed data (not /claim, "verify again" or the API's live reads)."""
    return CACHED_PAGE_RE.match(path) is not None


def _check_page(page: store.Page) -> None:
    if page.page > page.pages:
        raise HTTPException(404, f"page {page.page} is beyond the last page ({page.pages})")


def is_fragment_request(request: Request) -> bool:
    """HTMX asks for a fragment, except when it restores history (then it needs the whole page)."""
    return is_fragment(request.scope["headers"])


# --- security headers as plain ASGI middleware (cheap: no per-request task, no body buffering) --------------

class SecurityHeaders:
    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[..., Any],
                      send: Callable[..., Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- the application ---------------------------------------------------------------------------------------

def create_app(db_path: Path | str, deployment: Deployment | None = None, rpc_url: str | None = None,
               follow: bool = False, confirmations: int = 2, poll_interval: float = 1.0,
               page_cache: bool = True) -> FastAPI:
    """The web app over the store at `db_path` (created if missing).

    deployment + rpc_url: enable the claim page's live reads and "verify again"; follow: also run the
    indexer in the background (`ecoai web` does); page_cache: replay rendered pages until the index changes
    (off only to measure what rendering costs).
    """
    db_path = Path(db_path)
    store.open_store(db_path).close()  # create or migrate before any reader opens it
    chain = Chain.connect(deployment, rpc_url) if deployment is not None and rpc_url else None
    env = make_env()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from web.indexer import Indexer, IndexerThread

        if follow and chain is not None:
            indexer = Indexer(db_path, chain, confirmations=confirmations)
            state["indexer"] = IndexerThread(indexer, poll_interval).start()
        try:
            yield
        finally:
            if "indexer" in state:
                state.pop("indexer").stop()
            reader_conn.close()

    app = FastAPI(title="EcoAI", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Eco Credits, leaderboards and Groth16 green proofs indexed from the chain. "
                              "Units: 1 ECO = 1 kWh saved below the node's hardware-class baseline; energy in "
                              "mJ (API) or kWh (pages); carbon bound in mg CO2 (API) or g/kg CO2 (pages).")
    # Swagger UI loads from a CDN, which our CSP (rightly) forbids: the OpenAPI JSON is the API's documentation.
    reader_conn = store.connect(db_path, readonly=True)
    reader = store.Reader(reader_conn)
    synthetic = store.get_meta(reader_conn, "synthetic") == "1"  # set once, by bench/web_load.py's seeding
    app.state.reader = reader
    app.state.chain = chain

    def index_version() -> int | None:
        try:
            return store.index_version(reader_conn)
        except sqlite3.Error:
            return None

    app.add_middleware(SecurityHeaders)
    app.state.page_cache = PageCache(index_version, is_cached_page) if page_cache else None
    if app.state.page_cache is not None:  # added last, so it runs first: a hit skips all below (headers included)
        app.add_middleware(PageCacheMiddleware, cache=app.state.page_cache)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.mount("/vendor/htmx", StaticFiles(directory=REPO_ROOT / "node_modules" / "htmx.org" / "dist"), name="htmx")
    app.mount("/vendor/chartjs", StaticFiles(directory=REPO_ROOT / "node_modules" / "chart.js" / "dist"),
              name="chartjs")

    def render(name: str, status: int = 200, /, **context: Any) -> HTMLResponse:
        body = env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status, headers={"Vary": "HX-Request"})

    # --- errors: one clear message, HTML for pages and JSON for the API ---

    def error_response(request: Request, status_code: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status_code)
        if is_fragment_request(request):
            return render("_error.html", status_code, status_code=status_code, message=message)
        return render("error.html", status_code, status_code=status_code, message=message, nav="")

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(request, 422, "; ".join(parts))

    @app.exception_handler(sqlite3.Error)
    async def db_error(request: Request, exc: sqlite3.Error) -> Response:
        return error_response(request, 503, "the index database is not readable right now; try again shortly")

    def chain_info() -> dict[str, Any]:
        return {"chain_id": chain.chain_id if chain else None}

    # --- pages ---

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def overview() -> HTMLResponse:
        totals = reader.totals()
        series = reader.epoch_series()
        chart = {"labels": [r["epoch"] for r in series],
                 "energy_kwh": [round(r["energy_mj"] / store.MJ_PER_KWH, 6) for r in series],
                 "credits_eco": [round(r["credits_eco"], 6) for r in series],
                 "carbon_g": [round(r["carbon_mg"] / 1000, 3) for r in series]}
        chart_json = json.dumps(chart, separators=(",", ":")) if series else ""
        return render("overview.html", nav="overview", totals=totals, chart_json=chart_json, cursor=reader.cursor(),
                      synthetic=synthetic)

    @app.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
    async def leaderboard(request: Request, sort: SortKey = SortKey.credits, page: PageQuery = 1,
                          size: SizeQuery = 25) -> HTMLResponse:
        result = reader.leaderboard_rows_html(sort.value, page, size)
        _check_page(result)
        name = "_leaderboard_table.html" if is_fragment_request(request) else "leaderboard.html"
        return render(name, nav="leaderboard", board=result, sort=sort.value, synthetic=synthetic)

    @app.get("/nodes/{address}", response_class=HTMLResponse, include_in_schema=False)
    async def node_page(request: Request, address: AddressParam, page: PageQuery = 1,
                        size: SizeQuery = store.NODE_PAGE_SIZE) -> HTMLResponse:
        node = _node_or_404(address)
        proofs = store.Page([], page, size, int(node["proofs"]))
        _check_page(proofs)
        precomputed = reader.node_page(node["node"])
        if precomputed is not None and page == 1 and size == store.NODE_PAGE_SIZE:
            rows_html = precomputed["proofs_html"]
        else:
            rows_html = proof_rows(node["node"], reader.node_proofs(node["node"], page, size, proofs.total).rows)
        if is_fragment_request(request):
            return render("_node_proofs.html", node=node, proofs=proofs, rows_html=rows_html)
        return render("node.html", nav="leaderboard", node=node, proofs=proofs, rows_html=rows_html,
                      chart_json=precomputed["chart_json"] if precomputed else "", rank=node["rank_credits"],
                      saved_mj=node["credits_eco"] * store.MJ_PER_KWH, synthetic=synthetic)

    @app.get("/proofs/{address}/{epoch}", response_class=HTMLResponse, include_in_schema=False)
    async def proof_page(address: AddressParam, epoch: EpochParam) -> HTMLResponse:
        proof = _proof_or_404(address, epoch)
        return render("proof.html", nav="leaderboard", proof=proof, can_verify=chain is not None,
                      node_int=int(proof["node"], 16), synthetic=synthetic)

    @app.get("/proofs/{address}/{epoch}/verify", response_class=HTMLResponse, include_in_schema=False)
    async def proof_verify(address: AddressParam, epoch: EpochParam) -> HTMLResponse:
        result = await _verify(address, epoch)
        return render("_verify.html", result=result)

    @app.get("/claim", response_class=HTMLResponse, include_in_schema=False)
    async def claim_page() -> HTMLResponse:
        config = None
        if chain is not None:
            config = {"chain_id": hex(chain.chain_id), "green_proof": chain.green_proof.address,
                      "token": chain.eco_credit.address, "claim_data": chain.claim_calldata(),
                      "symbol": "ECO", "decimals": 18}
        return render("claim.html", nav="claim", config=config)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness and indexing progress (no chain call: cheap enough to poll)."""
        cursor = reader.cursor()
        status = state["indexer"].indexer.status if "indexer" in state else None
        return {"status": "ok", "indexed_block": None if cursor is None else cursor["block"],
                "head_block": status.head_block if status else None,
                "indexer": None if status is None else {"running": True, "last_error": status.last_error,
                                                         "reorgs": status.reorgs},
                **chain_info()}

    # --- JSON API ---

    @app.get("/api/totals", tags=["api"])
    async def api_totals() -> dict[str, Any]:
        """Totals over every accepted proof: energy certified (sum of thresholds, mJ), carbon bound (mg CO2),
        credits earned / claimed / minted (wei of ECO, decimal strings)."""
        t = reader.totals()
        return {"nodes": t["nodes"], "proofs": t["proofs"], "energy_certified_mj": t["energy_mj"],
                "carbon_bound_mg": t["carbon_mg"], "credits_earned_wei": t["credits_wei"],
                "credits_claimed_wei": t["claimed_wei"], "credits_minted_wei": t["minted_wei"],
                "claims": t["claims"], "synthetic": synthetic}

    @app.get("/api/epochs", tags=["api"])
    async def api_epochs(limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
        """Per-epoch totals of the latest `limit` epochs, oldest first."""
        return [{"epoch": r["epoch"], "proofs": r["proofs"], "energy_certified_mj": r["energy_mj"],
                 "carbon_bound_mg": r["carbon_mg"], "credits_eco": r["credits_eco"]}
                for r in reader.epoch_series(limit)]

    @app.get("/api/leaderboard", tags=["api"])
    async def api_leaderboard(sort: SortKey = SortKey.credits, page: PageQuery = 1,
                              size: SizeQuery = 25) -> dict[str, Any]:
        """Nodes ranked by credits (ECO = kWh saved), on-chain Eco Score, proofs or energy certified."""
        result = reader.leaderboard(sort.value, page, size)
        _check_page(result)
        return {"sort": sort.value, "page": page, "size": size, "total": result.total, "pages": result.pages,
                "nodes": [_node_json(r) for r in result.rows]}

    @app.get("/api/nodes/{address}", tags=["api"])
    async def api_node(address: AddressParam) -> dict[str, Any]:
        node = _node_or_404(address)
        return {**_node_json(node), "rank": node["rank_credits"], "first_epoch": node["first_epoch"]}

    @app.get("/api/nodes/{address}/proofs", tags=["api"])
    async def api_node_proofs(address: AddressParam, page: PageQuery = 1, size: SizeQuery = 20) -> dict[str, Any]:
        node = _node_or_404(address)
        proofs = reader.node_proofs(node["node"], page, size, int(node["proofs"]))
        _check_page(proofs)
        return {"node": node["node"], "page": page, "size": size, "total": proofs.total, "pages": proofs.pages,
                "proofs": [{"epoch": r["epoch"], "tier": r["tier"], "threshold_mj": r["threshold_mj"],
                            "carbon_bound_mg": r["carbon_mg"], "credits_wei": r["credits_wei"],
                            "block": r["block"], "timestamp": r["timestamp"], "tx_hash": r["tx_hash"]}
                           for r in proofs.rows]}

    @app.get("/api/proofs/{address}/{epoch}", tags=["api"])
    async def api_proof(address: AddressParam, epoch: EpochParam) -> dict[str, Any]:
        p = _proof_or_404(address, epoch)
        return {"node": p["node"], "epoch": p["epoch"], "beneficiary": p["beneficiary"], "tier": p["tier"],
                "threshold_mj": p["threshold_mj"], "commitment": p["commitment"],
                "carbon_bound_mg": p["carbon_mg"], "credits_wei": p["credits_wei"], "block": p["block"],
                "timestamp": p["timestamp"], "tx_hash": p["tx_hash"], "log_index": p["log_index"],
                "gas_used": p["gas_used"],
                "public_signals": [str(p["threshold_mj"]), str(p["epoch"]), str(int(p["node"], 16)),
                                   p["commitment"]]}

    @app.get("/api/proofs/{address}/{epoch}/verify", tags=["api"])
    async def api_proof_verify(address: AddressParam, epoch: EpochParam) -> dict[str, Any]:
        """Re-verify an accepted proof: on-chain verifier (eth_call) and the Python verifier, from calldata."""
        return await _verify(address, epoch)

    @app.get("/api/accounts/{address}", tags=["api"])
    async def api_account(address: AddressParam) -> dict[str, Any]:
        """Live from the chain: credits claimable (accrued) and ECO balance; plus indexed claims."""
        account = parse_address(address)
        if chain is None:
            raise HTTPException(503, "no chain configured for this server (start it with --deployment and --rpc-url)")
        try:
            live = await run_in_threadpool(chain.account, account)
        except (OSError, ValueError) as exc:
            raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None
        claims = reader.claims_of(account)
        return {"address": account, "claimable_wei": str(live["claimable_wei"]),
                "claimable": fmt_eco(live["claimable_wei"]), "balance_wei": str(live["balance_wei"]),
                "balance": fmt_eco(live["balance_wei"]),
                "claims": [{"tx_hash": c["tx_hash"], "to": c["recipient"], "amount_wei": c["amount_wei"],
                            "block": c["block"]} for c in claims]}

    # --- helpers bound to this app ---

    def _node_or_404(address: str) -> sqlite3.Row:
        # The index stores checksummed addresses only, so an exact match is a valid address: no keccak needed.
        node = reader.node(address) if ADDRESS_RE.match(address) else None
        if node is not None:
            return node
        node_address = parse_address(address)
        node = reader.node(node_address)
        if node is None:
            raise HTTPException(404, f"no node {node_address} in the index")
        return node

    def _proof_or_404(address: str, epoch: int) -> sqlite3.Row:
        node_address = parse_address(address)
        proof = reader.proof(node_address, epoch)
        if proof is None:
            raise HTTPException(404, f"no accepted proof for node {node_address} in epoch {epoch}")
        return proof

    async def _verify(address: str, epoch: int) -> dict[str, Any]:
        p = _proof_or_404(address, epoch)
        if chain is None:
            raise HTTPException(503, "no chain configured for this server: cannot re-verify")
        try:
            return await run_in_threadpool(chain.verify_again, p["node"], int(p["epoch"]), int(p["threshold_mj"]),
                                           int(p["commitment"]), p["tx_hash"])
        except (OSError, ValueError) as exc:
            raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None

    return app


def _node_json(r: sqlite3.Row) -> dict[str, Any]:
    return {"node": r["node"], "beneficiary": r["beneficiary"], "hardware_class": r["hardware_class"],
            "region": r["region"], "active": bool(r["active"]), "proofs": r["proofs"],
            "energy_certified_mj": r["energy_mj"], "carbon_bound_mg": r["carbon_mg"],
            "credits_wei": r["credits_wei"], "eco_score": r["eco_score"], "last_epoch": r["last_epoch"]}

