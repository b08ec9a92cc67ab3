"""The HTML pages (Jinja2, autoescaped) and their HTMX fragments; CACHED_PAGES go through the page cache."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oracle.conventions import ECO_DECIMALS, MG_PER_G, MJ_PER_KWH
from web.db.queries import NODE_CHART_EPOCHS, NODE_PAGE_SIZE, Page
from web.routes.common import (AddressParam, EpochParam, PageQuery, SizeQuery, SortKey, check_page,
                               is_fragment_request, node_or_404, proof_or_404, verify_again, web_state)
from web.views import make_env

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# Route names of the pages that show only indexed data: the page cache replays them until the index changes.
# Not /claim, "verify again" or the API (live chain reads).
CACHED_PAGES = frozenset({"overview", "leaderboard", "node_page", "proof_page", "parameters"})


def render(request: Request, name: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    body = make_env().get_template(name).render(notice=web_state(request).notice, **context)
    return HTMLResponse(body, status_code=status, headers={"Vary": "HX-Request"})


def _chart_json(series: dict[str, list[Any]]) -> str:
    return json.dumps(series, separators=(",", ":")) if series["labels"] else ""


@router.get("/", name="overview")
async def overview(request: Request) -> HTMLResponse:
    reader = web_state(request).reader
    series = reader.epoch_series()
    chart = {"labels": [r["epoch"] for r in series],
             "energy_kwh": [round(r["threshold_mj_total"] / MJ_PER_KWH, 6) for r in series],
             "credits_eco": [round(r["credits_eco"], 6) for r in series],
             "carbon_g": [round(r["carbon_mg"] / MG_PER_G, 3) for r in series]}
    return render(request, "overview.html", nav="overview", totals=reader.totals(), chart_json=_chart_json(chart),
                  cursor=reader.cursor())


@router.get("/leaderboard", name="leaderboard")
async def leaderboard(request: Request, sort: SortKey = SortKey.credits, page: PageQuery = 1,
                      size: SizeQuery = 25) -> HTMLResponse:
    board = web_state(request).reader.leaderboard(sort.value, page, size)
    check_page(board)
    name = "_leaderboard_table.html" if is_fragment_request(request) else "leaderboard.html"
    return render(request, name, nav="leaderboard", board=board, sort=sort.value)


@router.get("/nodes/{address}", name="node_page")
async def node_page(request: Request, address: AddressParam, page: PageQuery = 1,
                    size: SizeQuery = NODE_PAGE_SIZE) -> HTMLResponse:
    reader = web_state(request).reader
    node = node_or_404(reader, address)
    total = int(node["proofs"])
    check_page(Page([], page, size, total))
    if is_fragment_request(request):
        return render(request, "_node_proofs.html", node=node, proofs=reader.node_proofs(node["node"], page, size,
                                                                                         total))
    # One range scan serves the chart (newest 100 epochs) and, when it covers it, the page of the table too.
    recent = reader.node_recent(node["node"], NODE_CHART_EPOCHS)
    if page * size <= len(recent) or len(recent) >= total:
        proofs = Page(recent[(page - 1) * size:page * size], page, size, total)
    else:
        proofs = reader.node_proofs(node["node"], page, size, total)
    chart = recent[::-1]
    chart_json = _chart_json({"labels": [r["epoch"] for r in chart],
                              "energy_kwh": [round(r["threshold_mj"] / MJ_PER_KWH, 6) for r in chart],
                              "carbon_g": [round(r["carbon_mg"] / MG_PER_G, 3) for r in chart]})
    return render(request, "node.html", nav="leaderboard", node=node, proofs=proofs, chart_json=chart_json,
                  rank=node["rank_credits"], saved_mj=node["credits_eco"] * MJ_PER_KWH)


@router.get("/proofs/{address}/{epoch}", name="proof_page")
async def proof_page(request: Request, address: AddressParam, epoch: EpochParam) -> HTMLResponse:
    state = web_state(request)
    proof = proof_or_404(state.reader, address, epoch)
    return render(request, "proof.html", nav="leaderboard", proof=proof, can_verify=state.chain is not None,
                  node_int=int(proof["node"], 16))


@router.get("/proofs/{address}/{epoch}/verify", name="proof_verify")
async def proof_verify(request: Request, address: AddressParam, epoch: EpochParam) -> HTMLResponse:
    result = await verify_again(web_state(request), address, epoch)
    return render(request, "_verify.html", result=result)


@router.get("/parameters", name="parameters")
async def parameters(request: Request) -> HTMLResponse:
    return render(request, "parameters.html", nav="parameters", params=web_state(request).reader.parameters())


@router.get("/claim", name="claim")
async def claim_page(request: Request) -> HTMLResponse:
    chain = web_state(request).chain
    config = None
    if chain is not None:
        config = {"chain_id": hex(chain.chain_id), "green_proof": chain.green_proof.address,
                  "token": chain.eco_credit.address, "claim_data": chain.claim_calldata(),
                  "symbol": "ECO", "decimals": ECO_DECIMALS}
    return render(request, "claim.html", nav="claim", config=config)
