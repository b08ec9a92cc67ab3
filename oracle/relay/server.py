"""The relay's HTTP API (FastAPI): POST /v1/proofs takes a node's proof, GET /v1/status and /healthz report."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from oracle.node.chain import RpcUnavailable
from oracle.node.loop import fault_point
from oracle.relay.intake import Refused, intake
from oracle.relay.queue import Item, RelayQueue

log = logging.getLogger("ecoai.relay")


class ChainViews:
    """The intake's read-only chain look-ups, serialized (one web3 session, many request threads) and tolerant:
    when the chain does not answer they return None and the settler checks again before sending."""

    def __init__(self, chain: Any | None) -> None:
        self._chain = chain
        self._lock = threading.Lock()

    def _ask(self, what: Callable[[], Any]) -> Any:
        if self._chain is None:
            return None
        with self._lock:
            try:
                return what()
            except RpcUnavailable as exc:
                log.warning("intake: chain look-up skipped (%s); checked again before sending", exc)
                return None

    def accepted(self, node: str, epoch: int) -> bool | None:
        return self._ask(lambda: self._chain.is_accepted(node, epoch))

    def tier_value(self, node: str, tier: int) -> int | None:
        return self._ask(lambda: self._chain.tier_value(node, tier))


def create_app(queue: RelayQueue, vk: dict, views: ChainViews, info: dict[str, Any] | None = None) -> FastAPI:
    """The API over one queue. `info` (relayer address, contract, batch size, interval) is shown by /v1/status."""
    app = FastAPI(title="EcoAI relay", docs_url=None, redoc_url=None, openapi_url=None)

    def take(body: Any) -> tuple[int, dict[str, Any]]:
        try:
            item, duplicate = intake(body, vk, known=queue.get, accepted=views.accepted, tier_value=views.tier_value)
        except Refused as exc:
            log.info("hand-over refused (%d): %s", exc.status, exc.reason)
            return exc.status, {"error": exc.reason}
        if duplicate:
            return 200, {"duplicate": True, **item.public()}
        created, stored = queue.add(item)
        if created:
            fault_point("relay_queued")
            log.info("queued %s epoch %d (tier %d, %d work units)", stored.node, stored.epoch, stored.tier,
                     stored.work)
            return 202, {"duplicate": False, **stored.public()}
        return 200, {"duplicate": True, **stored.public()}

    @app.post("/v1/proofs")
    async def post_proof(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=422)
        # Verification is seconds of pure-Python pairing: off the event loop, so status and health stay live.
        status, payload = await run_in_threadpool(take, body)
        return JSONResponse(payload, status_code=status)

    @app.get("/v1/proofs/{node}/{epoch}")
    def get_proof(node: str, epoch: int) -> JSONResponse:
        from eth_utils import is_address, to_checksum_address

        if not is_address(node):
            return JSONResponse({"error": f"not an address: {node!r:.60}"}, status_code=422)
        item: Item | None = queue.get(to_checksum_address(node), epoch)
        if item is None:
            return JSONResponse({"error": "unknown to this relay"}, status_code=404)
        return JSONResponse(item.public())

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        counts = queue.counts()
        return {"queue": counts["items"], "batches": counts["batches"], **(info or {})}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app
