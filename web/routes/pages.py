"""The HTML pages (Jinja2, autoescaped) and their HTMX fragments; CACHED_PAGES go through the page cache."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from oracle.conventions import MG_PER_G, MJ_PER_KWH, calldata_to_proof
from web.chain import verification_key_path
from web.db.queries import NODE_CHART_EPOCHS, NODE_PAGE_SIZE, Page, method_labels
from web.routes.common import (AddressParam, Busy, ClassQuery, EpochParam, PageQuery, SizeQuery, SortKey,
                               check_page, is_fragment_request, leaderboard_page, node_and_class_or_404, node_or_404,
                               proof_or_404, public_signals, verify_again, web_state)
from web.views import efficiency_chart, fmt_chart_time, leaderboard_cells, make_env, proof_cells

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# Route names of the pages that show only indexed data: the page cache replays them until the index changes.
# Not /claim, "verify again" or the API (live chain reads).
CACHED_PAGES = frozenset({"overview", "leaderboard", "node_page", "proof_page", "parameters", "proof_json",
                          "public_json"})
VERIFICATION_KEY_NAME = "verification_key.json"


def render(request: Request, name: str, status: int = 200, /, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    body = make_env().get_template(name).render(notice=web_state(request).notice, **context)
    return HTMLResponse(body, status_code=status, headers={"Vary": "HX-Request", **(headers or {})})


def _chart_json(series: dict[str, Any]) -> str:
    return json.dumps(series, separators=(",", ":")) if series["labels"] else ""


@router.get("/", name="overview")
async def overview(request: Request) -> HTMLResponse:
    reader = web_state(request).reader
    series = reader.epoch_series()
    chart = {"labels": [fmt_chart_time(r["epoch_start"]) if r["epoch_start"] is not None else str(r["epoch"])
                        for r in series],
             "energy_kwh": [round(r["energy_bound_mj_total"] / MJ_PER_KWH, 6) for r in series],
             "credits_eco": [round(r["credits_eco"], 6) for r in series],
             "carbon_g": [round(r["carbon_bound_mg"] / MG_PER_G, 3) for r in series]}
    return render(request, "overview.html", nav="overview", totals=reader.totals(), chart_json=_chart_json(chart),
                  cursor=reader.cursor(), classes=reader.classes())


@router.get("/leaderboard", name="leaderboard")
async def leaderboard(request: Request, sort: SortKey = SortKey.efficiency, class_id: ClassQuery = None,
                      page: PageQuery = 1, size: SizeQuery = 25) -> HTMLResponse:
    reader = web_state(request).reader
    classes = reader.classes()
    board, current = leaderboard_page(reader, sort, class_id, page, size, classes)
    name = "_leaderboard_table.html" if is_fragment_request(request) else "leaderboard.html"
    return render(request, name, nav="leaderboard", board=board, cells=leaderboard_cells(board.rows),
                  sort=sort.value, class_id=None if current is None else str(current["class_id"]), classes=classes,
                  current_class=current)


@router.get("/nodes/{address}", name="node_page")
async def node_page(request: Request, address: AddressParam, page: PageQuery = 1,
                    size: SizeQuery = NODE_PAGE_SIZE) -> HTMLResponse:
    state = web_state(request)
    reader = state.reader
    fragment = is_fragment_request(request)
    node, cls = (node_or_404(reader, address), None) if fragment else node_and_class_or_404(reader, address)
    total = int(node["proofs"])
    check_page(Page([], page, size, total))
    if fragment:
        proofs = reader.node_proofs(node["node"], page, size, total)
        return render(request, "_node_proofs.html", node=node, proofs=proofs,
                      proof_cells=proof_cells(proofs.rows, node["unit"]))
    # One range scan serves the chart (newest 100 epochs) and, when it covers it, the page of the table too.
    recent = reader.node_recent(node["node"], NODE_CHART_EPOCHS)
    if page * size <= len(recent) or len(recent) >= total:
        proofs = Page(recent[(page - 1) * size:page * size], page, size, total)
    else:
        proofs = reader.node_proofs(node["node"], page, size, total)
    chart = efficiency_chart(recent[::-1], node["unit"] or "unit")
    return render(request, "node.html", nav="leaderboard", node=node, proofs=proofs, chart=chart,
                  rank=node["rank_credits"], class_rank=node["class_rank_efficiency"], cls=cls,
                  saved_mj=node["credits_eco"] * MJ_PER_KWH, footprint=state.footprints.of(node["node"]),
                  proof_cells=proof_cells(proofs.rows, node["unit"]))


@router.get("/proofs/{address}/{epoch}", name="proof_page")
async def proof_page(request: Request, address: AddressParam, epoch: EpochParam) -> HTMLResponse:
    state = web_state(request)
    proof = proof_or_404(state.reader, address, epoch)
    energy_method, work_method = method_labels(int(proof["methods"]))
    node = state.reader.node(proof["node"])
    return render(request, "proof.html", nav="leaderboard", proof=proof, can_verify=state.chain is not None,
                  node_int=int(proof["node"], 16), node=node, energy_method=energy_method, work_method=work_method,
                  settled_with=state.reader.settled_with(proof["tx_hash"]), batch=state.reader.batch(proof["tx_hash"]),
                  signals=public_signals(proof))


@router.get("/proofs/{address}/{epoch}/verify", name="proof_verify")
async def proof_verify(request: Request, address: AddressParam, epoch: EpochParam) -> HTMLResponse:
    try:
        result = await verify_again(web_state(request), address, epoch)
    except Busy as busy:
        return render(request, "_error.html", 429, headers={"Retry-After": str(busy.retry_after_s)},
                      status_code=429, message=f"{busy} (in {busy.retry_after_s} s)")
    return render(request, "_verify.html", result=result)


def _download(body: Any, filename: str) -> JSONResponse:
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/proofs/{address}/{epoch}/proof.json", name="proof_json", response_class=JSONResponse)
async def proof_json(request: Request, address: AddressParam, epoch: EpochParam) -> Response:
    """The proof as snarkjs's proof.json (G2 coordinates back to [c0, c1]), read from the settling calldata."""
    proof = proof_or_404(web_state(request).reader, address, epoch)
    if proof["proof"] is None:
        raise HTTPException(404, "the proof of this epoch could not be read from its transaction's calldata")
    return _download(calldata_to_proof([int(x) for x in json.loads(proof["proof"])]), "proof.json")


@router.get("/proofs/{address}/{epoch}/public.json", name="public_json", response_class=JSONResponse)
async def public_json(request: Request, address: AddressParam, epoch: EpochParam) -> Response:
    """The public signals in the circuit's order, as snarkjs's public.json."""
    return _download(public_signals(proof_or_404(web_state(request).reader, address, epoch)), "public.json")


@router.get(f"/{VERIFICATION_KEY_NAME}", name="verification_key", response_class=FileResponse)
async def verification_key() -> Response:
    """The efficiency circuit's verification key (snarkjs format)."""
    path = verification_key_path()
    if not path.is_file():
        raise HTTPException(404, "the verification key is not installed on this server")
    return FileResponse(path, media_type="application/json", filename=VERIFICATION_KEY_NAME)


@router.get("/parameters", name="parameters")
async def parameters(request: Request) -> HTMLResponse:
    reader = web_state(request).reader
    return render(request, "parameters.html", nav="parameters", params=reader.parameters(), classes=reader.classes(),
                  tiers=lambda c: json.loads(c["tiers_uj_per_unit"]))
