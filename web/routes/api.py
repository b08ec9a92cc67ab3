"""The JSON API (/api/…) and /healthz: typed answers (models.py), never cached, errors as {"detail": …}."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from web.db.queries import NODE_PAGE_SIZE, RETIREMENTS_PAGE_SIZE, method_labels
from web.routes import models
from web.routes.common import (AddressParam, Busy, ClassQuery, EpochParam, PageQuery, SizeQuery, SortKey,
                               check_page, leaderboard_page, node_or_404, parse_address, proof_or_404,
                               public_signals, verify_again, web_state)
from web.views import fmt_eco

router = APIRouter()

NODE_FIELDS = tuple(models.NodeSummary.model_fields)


def _node_summary(r: Any) -> dict[str, Any]:  # a `nodes` row (or a leaderboard row) as NodeSummary fields
    return {**{k: r[k] for k in NODE_FIELDS}, "active": bool(r["active"])}


def proof_row(r: Any) -> dict[str, Any]:
    energy, work = method_labels(int(r["methods"]))
    return {k: r[k] for k in ("epoch", "epoch_start", "epoch_end", "class_id", "tier", "efficiency_uj_per_unit",
                              "work_units", "energy_bound_mj", "carbon_bound_mg", "credits_wei", "block",
                              "timestamp", "tx_hash", "batch_size")} | {"energy_method": energy,
                                                                          "work_method": work}


@router.get("/healthz", tags=["health"], response_model=models.Health)
async def healthz(request: Request) -> models.Health:
    """Liveness and indexing progress (no chain call: cheap enough to poll)."""
    state = web_state(request)
    cursor = state.reader.cursor()
    status = state.indexer.indexer.status if state.indexer is not None else None
    return models.Health(
        status="ok", indexed_block=None if cursor is None else cursor["block"],
        head_block=status.head_block if status else None,
        indexer=None if status is None else models.IndexerInfo(running=True, last_error=status.last_error,
                                                                reorgs=status.reorgs),
        chain_id=state.chain.chain_id if state.chain else None)


@router.get("/api/totals", tags=["api"], response_model=models.Totals)
async def api_totals(request: Request) -> models.Totals:
    """Totals over every accepted epoch: energy bound (mJ), carbon bound (mg CO2), credits earned / claimed /
    minted / retired (wei of ECO, decimal strings)."""
    t = web_state(request).reader.totals()
    return models.Totals(nodes=t["nodes"], proofs=t["proofs"], energy_bound_mj_total=t["energy_bound_mj_total"],
                         carbon_bound_mg=t["carbon_bound_mg"], credits_earned_wei=t["credits_wei"],
                         credits_claimed_wei=t["claimed_wei"], credits_minted_wei=t["minted_wei"],
                         credits_retired_wei=t["retired_wei"], claims=t["claims"], retirements=t["retirements"],
                         settlements=t["settlements"])


@router.get("/api/epochs", tags=["api"], response_model=list[models.EpochTotals])
async def api_epochs(request: Request,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[models.EpochTotals]:
    """Per-epoch totals of the latest `limit` epochs, oldest first."""
    return [models.EpochTotals(epoch=r["epoch"], epoch_start=r["epoch_start"], proofs=r["proofs"],
                               energy_bound_mj_total=r["energy_bound_mj_total"],
                               carbon_bound_mg=r["carbon_bound_mg"], credits_eco=r["credits_eco"])
            for r in web_state(request).reader.epoch_series(limit)]


def class_model(c: Any) -> models.EfficiencyClass:
    return models.EfficiencyClass(**{**dict(c), "tiers_uj_per_unit": json.loads(c["tiers_uj_per_unit"]),
                                     "require_measured": bool(c["require_measured"])})


@router.get("/api/classes", tags=["api"], response_model=list[models.EfficiencyClass])
async def api_classes(request: Request) -> list[models.EfficiencyClass]:
    """The efficiency classes (current EfficiencyClassSet values), most nodes first."""
    return [class_model(c) for c in web_state(request).reader.classes()]


@router.get("/api/leaderboard", tags=["api"], response_model=models.Leaderboard)
async def api_leaderboard(request: Request, sort: SortKey = SortKey.efficiency, class_id: ClassQuery = None,
                          page: PageQuery = 1, size: SizeQuery = 25) -> models.Leaderboard:
    """Nodes ranked by efficiency (µJ per unit, lower is better) within a class — the class with the most nodes
    unless `class` names one — or by credits (ECO = kWh saved), Eco Score or proofs, over all nodes or within
    `class`."""
    board, current = leaderboard_page(web_state(request).reader, sort, class_id, page, size)
    return models.Leaderboard(sort=sort.value, class_id=None if current is None else str(current["class_id"]),
                              page=page, size=size, total=board.total, pages=board.pages,
                              nodes=[models.LeaderboardRow(**_node_summary(r), position=r["position"])
                                     for r in board.rows])


@router.get("/api/nodes/{address}", tags=["api"], response_model=models.NodeDetail)
async def api_node(request: Request, address: AddressParam) -> models.NodeDetail:
    node = node_or_404(web_state(request).reader, address)
    return models.NodeDetail(**_node_summary(node), admitted_at=node["admitted_at"], rank=node["rank_credits"],
                             class_rank=node["class_rank_efficiency"], first_epoch=node["first_epoch"],
                             footprint_mj=None)


@router.get("/api/nodes/{address}/proofs", tags=["api"], response_model=models.NodeProofs)
async def api_node_proofs(request: Request, address: AddressParam, page: PageQuery = 1,
                          size: SizeQuery = NODE_PAGE_SIZE) -> models.NodeProofs:
    reader = web_state(request).reader
    node = node_or_404(reader, address)
    proofs = reader.node_proofs(node["node"], page, size, int(node["proofs"]))
    check_page(proofs)
    return models.NodeProofs(node=node["node"], page=page, size=size, total=proofs.total, pages=proofs.pages,
                             proofs=[models.ProofRow(**proof_row(r)) for r in proofs.rows])


@router.get("/api/proofs/{address}/{epoch}", tags=["api"], response_model=models.Proof)
async def api_proof(request: Request, address: AddressParam, epoch: EpochParam) -> models.Proof:
    reader = web_state(request).reader
    p = proof_or_404(reader, address, epoch)
    return models.Proof(**proof_row(p), node=p["node"], beneficiary=p["beneficiary"], methods=p["methods"],
                        commitment=p["commitment"], baseline_uj_per_unit=p["baseline_uj_per_unit"],
                        log_index=p["log_index"], gas_used=p["gas_used"], settled_by=p["settled_by"],
                        settled_with=[models.SettledEpoch(node=r["node"], epoch=r["epoch"])
                                      for r in reader.settled_with(p["tx_hash"])],
                        public_signals=public_signals(p), proof_available=p["proof"] is not None)


def busy_response(busy: Busy) -> JSONResponse:
    return JSONResponse({"detail": str(busy)}, status_code=429, headers={"Retry-After": str(busy.retry_after_s)})


@router.get("/api/proofs/{address}/{epoch}/verify", tags=["api"], response_model=models.Verification,
            response_model_exclude_none=True, responses={429: {"description": "every verification slot is busy; "
                                                                                 "see Retry-After"}})
async def api_proof_verify(request: Request, address: AddressParam, epoch: EpochParam) -> Any:
    """Re-verify an accepted proof: on-chain verifier (eth_call) and the Python verifier, from calldata. The
    first complete result is kept: later requests are answered from it (`stored: true`)."""
    try:
        return models.Verification(**await verify_again(web_state(request), address, epoch))
    except Busy as busy:
        return busy_response(busy)


@router.get("/api/accounts/{address}", tags=["api"], response_model=models.Account)
async def api_account(request: Request, address: AddressParam) -> models.Account:
    """Live from the chain: credits claimable (accrued) and ECO balance; plus indexed claims."""
    state = web_state(request)
    account = parse_address(address)
    if state.chain is None:
        raise HTTPException(503, "no chain configured for this server (start it with --deployment and --rpc-url)")
    try:
        live = await run_in_threadpool(state.chain.account, account)
    except (OSError, ValueError) as exc:
        raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None
    return models.Account(
        address=account, claimable_wei=str(live["claimable_wei"]), claimable=fmt_eco(live["claimable_wei"]),
        balance_wei=str(live["balance_wei"]), balance=fmt_eco(live["balance_wei"]),
        claims=[models.Claim(tx_hash=c["tx_hash"], to=c["recipient"], amount_wei=c["amount_wei"], block=c["block"])
                for c in state.reader.claims_of(account)])


@router.get("/api/parameters", tags=["api"], response_model=models.Parameters)
async def api_parameters(request: Request) -> models.Parameters:
    """Governance parameters (efficiency classes, regional carbon factors, the epoch schedule, maximum epoch
    age) as the indexed events set them, and the history of their changes."""
    reader = web_state(request).reader
    params = reader.parameters()
    return models.Parameters(
        epoch_length_s=params.epoch_length_s, max_epoch_age_s=params.max_epoch_age_s,
        schedule=[models.ScheduleSegment(**s) for s in params.schedule],
        classes=[class_model(c) for c in reader.classes()],
        regions=[models.Region(region=name, **value) for name, value in sorted(params.regions.items())],
        history=[models.ParameterChange(**change) for change in params.history])


@router.get("/api/retirements", tags=["api"], response_model=models.Retirements)
async def api_retirements(request: Request, page: PageQuery = 1,
                          size: SizeQuery = RETIREMENTS_PAGE_SIZE) -> models.Retirements:
    """Retirement certificates (ECO burned with RetirementCertificate), newest first."""
    reader = web_state(request).reader
    result = reader.retirements(page, size)
    check_page(result)
    return models.Retirements(page=page, size=size, total=result.total, pages=result.pages,
                              retired_wei=reader.totals()["retired_wei"],
                              certificates=[models.Retirement(**{k: r[k] for k in models.Retirement.model_fields})
                                            for r in result.rows])
