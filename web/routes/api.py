"""The JSON API (/api/…) and /healthz: typed answers (models.py), never cached, errors as {"detail": …}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from web.db.queries import NODE_PAGE_SIZE
from web.routes import models
from web.routes.common import (AddressParam, EpochParam, PageQuery, SizeQuery, SortKey, check_page, node_or_404,
                               parse_address, proof_or_404, public_signals, verify_again, web_state)
from web.views import fmt_eco

router = APIRouter()


def _node_summary(r) -> dict:  # a `nodes` row (or a leaderboard row) as NodeSummary fields
    return {"node": r["node"], "beneficiary": r["beneficiary"], "hardware_class": r["hardware_class"],
            "region": r["region"], "active": bool(r["active"]), "proofs": r["proofs"],
            "threshold_mj_total": r["threshold_mj_total"], "carbon_bound_mg": r["carbon_mg"],
            "credits_wei": r["credits_wei"], "saved_share_pct": r["saved_share_pct"], "last_epoch": r["last_epoch"]}


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
    """Totals over every accepted proof: energy bound (sum of thresholds, mJ), carbon bound (mg CO2),
    credits earned / claimed / minted (wei of ECO, decimal strings)."""
    t = web_state(request).reader.totals()
    return models.Totals(nodes=t["nodes"], proofs=t["proofs"], threshold_mj_total=t["threshold_mj_total"],
                         carbon_bound_mg=t["carbon_mg"], credits_earned_wei=t["credits_wei"],
                         credits_claimed_wei=t["claimed_wei"], credits_minted_wei=t["minted_wei"], claims=t["claims"])


@router.get("/api/epochs", tags=["api"], response_model=list[models.EpochTotals])
async def api_epochs(request: Request,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[models.EpochTotals]:
    """Per-epoch totals of the latest `limit` epochs, oldest first."""
    return [models.EpochTotals(epoch=r["epoch"], proofs=r["proofs"], threshold_mj_total=r["threshold_mj_total"],
                               carbon_bound_mg=r["carbon_mg"], credits_eco=r["credits_eco"])
            for r in web_state(request).reader.epoch_series(limit)]


@router.get("/api/leaderboard", tags=["api"], response_model=models.Leaderboard)
async def api_leaderboard(request: Request, sort: SortKey = SortKey.credits, page: PageQuery = 1,
                          size: SizeQuery = 25) -> models.Leaderboard:
    """Nodes ranked by credits (ECO = kWh saved), share of baseline saved, proofs or energy bound."""
    result = web_state(request).reader.leaderboard(sort.value, page, size)
    check_page(result)
    return models.Leaderboard(sort=sort.value, page=page, size=size, total=result.total, pages=result.pages,
                              nodes=[models.NodeSummary(**_node_summary(r)) for r in result.rows])


@router.get("/api/nodes/{address}", tags=["api"], response_model=models.NodeDetail)
async def api_node(request: Request, address: AddressParam) -> models.NodeDetail:
    node = node_or_404(web_state(request).reader, address)
    return models.NodeDetail(**_node_summary(node), rank=node["rank_credits"], first_epoch=node["first_epoch"])


@router.get("/api/nodes/{address}/proofs", tags=["api"], response_model=models.NodeProofs)
async def api_node_proofs(request: Request, address: AddressParam, page: PageQuery = 1,
                          size: SizeQuery = NODE_PAGE_SIZE) -> models.NodeProofs:
    reader = web_state(request).reader
    node = node_or_404(reader, address)
    proofs = reader.node_proofs(node["node"], page, size, int(node["proofs"]))
    check_page(proofs)
    return models.NodeProofs(
        node=node["node"], page=page, size=size, total=proofs.total, pages=proofs.pages,
        proofs=[models.ProofRow(epoch=r["epoch"], tier=r["tier"], threshold_mj=r["threshold_mj"],
                                carbon_bound_mg=r["carbon_mg"], credits_wei=r["credits_wei"], block=r["block"],
                                timestamp=r["timestamp"], tx_hash=r["tx_hash"]) for r in proofs.rows])


@router.get("/api/proofs/{address}/{epoch}", tags=["api"], response_model=models.Proof)
async def api_proof(request: Request, address: AddressParam, epoch: EpochParam) -> models.Proof:
    p = proof_or_404(web_state(request).reader, address, epoch)
    return models.Proof(node=p["node"], epoch=p["epoch"], beneficiary=p["beneficiary"], tier=p["tier"],
                        threshold_mj=p["threshold_mj"], commitment=p["commitment"], carbon_bound_mg=p["carbon_mg"],
                        credits_wei=p["credits_wei"], block=p["block"], timestamp=p["timestamp"],
                        tx_hash=p["tx_hash"], log_index=p["log_index"], gas_used=p["gas_used"],
                        public_signals=public_signals(p))


@router.get("/api/proofs/{address}/{epoch}/verify", tags=["api"], response_model=models.Verification,
            response_model_exclude_none=True)
async def api_proof_verify(request: Request, address: AddressParam, epoch: EpochParam) -> models.Verification:
    """Re-verify an accepted proof: on-chain verifier (eth_call) and the Python verifier, from calldata."""
    return models.Verification(**await verify_again(web_state(request), address, epoch))


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
    """Governance parameters (hardware-class baselines and tiers, regional carbon factors, epoch length, maximum
    epoch age) as the indexed events set them, and the history of their changes."""
    params = web_state(request).reader.parameters()
    return models.Parameters(
        epoch_length_s=params.epoch_length_s, max_epoch_age_s=params.max_epoch_age_s,
        hardware_classes=[models.HardwareClass(hardware_class=name, **value)
                          for name, value in sorted(params.hardware_classes.items())],
        regions=[models.Region(region=name, **value) for name, value in sorted(params.regions.items())],
        history=[models.ParameterChange(**change) for change in params.history])
