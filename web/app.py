"""The EcoAI web dApp's application factory: middleware, error handlers, static files, the page and API routers.

`create_app(db, ...)` builds the FastAPI application over an index (a SQLite file or a database URL, see
web.db.engine). With a chain
(`deployment` + `rpc_url`) it also reads live account state for the claim page and re-verifies proofs;
with `follow=True` it runs the indexer in a background thread for the application's lifetime.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from oracle.chain.deployment import Deployment
from oracle.paths import REPO_ROOT
from web.cache import DEFAULT_MAX_BYTES, PageCache, PageCacheMiddleware
from web.chain import Chain
from web.db.queries import Reader
from web.db.engine import Database
from web.routes import api, certificates, pages
from web.footprints import NodeFootprints
from web.routes.common import DEFAULT_VERIFY_CONCURRENCY, VerifyGate, WebState, is_fragment_request
from web.views import WEB_DIR

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


class SecurityHeaders:
    """Security headers as plain ASGI middleware (cheap: no per-request task, no body buffering)."""

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


def create_app(db: Database | Path | str, deployment: Deployment | None = None, rpc_url: str | None = None,
               follow: bool = False, confirmations: int = 2, poll_interval: float = 1.0,
               cache_bytes: int = DEFAULT_MAX_BYTES, notice: str | None = None, migrate: bool = True,
               verify_concurrency: int = DEFAULT_VERIFY_CONCURRENCY, node_dbs: Sequence[Path | str] = ()) -> FastAPI:
    """The web app over the index `db` (a Database, a SQLite path or a database URL; created if missing).

    deployment + rpc_url: enable the claim page's live reads and "verify again"; follow: also run the
    indexer in the background (`ecoai web` does); cache_bytes: the page cache's bound (0: no page cache, every
    request rendered); notice: a line shown on every page (e.g. that the data is a test network's); migrate:
    upgrade the schema to the newest revision first (`ecoai web serve` does it once, before its workers);
    verify_concurrency: "verify again" runs at most this many verifications at once (429 beyond); node_dbs: node
    state databases (read-only) whose nodes' own footprints the node pages show (web.footprints).
    """
    database = db if isinstance(db, Database) else Database(db)
    if migrate:
        database.upgrade()  # create or migrate before any reader opens it
    chain = Chain.connect(deployment, rpc_url) if deployment is not None and rpc_url else None
    reader = Reader(database.reader)
    state = WebState(reader=reader, chain=chain, notice=notice, database=database,
                     verify_gate=VerifyGate(verify_concurrency), footprints=NodeFootprints(node_dbs))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from web.indexer import Indexer, IndexerThread

        if follow and chain is not None:
            state.indexer = IndexerThread(Indexer(database, chain, confirmations=confirmations, migrate=False),
                                          poll_interval).start()
        try:
            yield
        finally:
            if state.indexer is not None:
                state.indexer.stop()
                state.indexer = None
            reader.close()

    app = FastAPI(title="EcoAI", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None,
                  openapi_url="/api/openapi.json",
                  description="Eco Credits, leaderboards and Groth16 green proofs indexed from the chain. "
                              "Units: 1 ECO = 1 kWh of energy saved per unit of work against the efficiency class's "
                              "baseline: (baseline − proven tier) µJ per unit × the work units counted (items, "
                              "tokens, …, capped per epoch); energy in "
                              "mJ (API) or kWh (pages); efficiency in µJ per unit; carbon bound in mg CO2 (API) "
                              "or g/kg CO2 (pages).")
    app.state.web = state
    app.state.certificates = certificates.certificate_chain(chain, deployment, rpc_url)
    app.include_router(certificates.router)  # /claim (with network switch/add and retirement), certificates
    app.include_router(pages.router)
    _add_api_docs(app)
    app.include_router(api.router)
    _add_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.state.page_cache = None
    if cache_bytes > 0:  # added last, so it runs first: a hit skips all below (headers included)
        app.state.page_cache = PageCache(lambda: _index_version(reader), _cached_pages(), cache_bytes)
        app.add_middleware(PageCacheMiddleware, cache=app.state.page_cache)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.mount("/vendor/htmx", StaticFiles(directory=REPO_ROOT / "node_modules" / "htmx.org" / "dist"), name="htmx")
    app.mount("/vendor/chartjs", StaticFiles(directory=REPO_ROOT / "node_modules" / "chart.js" / "dist"),
              name="chartjs")
    if SWAGGER_UI_DIR.is_dir():
        app.mount("/vendor/swagger-ui", StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")
    return app


# Swagger UI from the npm package swagger-ui-dist (never a CDN); /api/docs says so when it is not installed.
SWAGGER_UI_DIR = REPO_ROOT / "node_modules" / "swagger-ui-dist"


def _add_api_docs(app: FastAPI) -> None:
    """/api/docs: Swagger UI for /api/openapi.json under our CSP. FastAPI's own docs page starts Swagger UI with
    an inline script and loads it from a CDN; ours loads the bundle from node_modules and starts it from
    /static/api-docs.js."""

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    async def api_docs(request: Request) -> Response:
        if not (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file():
            return JSONResponse({"detail": "the interactive API docs need the npm package swagger-ui-dist (npm ci); "
                                           "the OpenAPI document is at /api/openapi.json"}, status_code=503)
        return pages.render(request, "api_docs.html", nav="")


def _index_version(reader: Reader) -> int | None:
    try:
        return reader.index_version()
    except SQLAlchemyError:
        return None


def _cached_pages() -> Callable[[str], frozenset[str] | None]:
    """path → the query parameters its page declares, for the routes in pages.CACHED_PAGES (else None)."""
    rules: list[tuple[re.Pattern[str], frozenset[str]]] = [
        (route.path_regex, frozenset(param.alias for param in route.dependant.query_params))
        for route in pages.router.routes if isinstance(route, APIRoute) and route.name in pages.CACHED_PAGES]
    assert len(rules) == len(pages.CACHED_PAGES), "every name in CACHED_PAGES must be a page route"

    def known_params(path: str) -> frozenset[str] | None:
        for pattern, params in rules:
            if pattern.match(path):
                return params
        return None

    return known_params


def _add_error_handlers(app: FastAPI) -> None:
    """One clear message per error: JSON {"detail": …} for the API, the error page (or fragment) for pages."""

    def error_response(request: Request, status_code: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status_code)
        if is_fragment_request(request):
            return pages.render(request, "_error.html", status_code, status_code=status_code, message=message)
        return pages.render(request, "error.html", status_code, status_code=status_code, message=message, nav="")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(request, 422, "; ".join(parts))

    @app.exception_handler(SQLAlchemyError)
    async def db_error(request: Request, exc: SQLAlchemyError) -> Response:
        return error_response(request, 503, "the index database is not readable right now; try again shortly")
