"""The outcome of a node run (`ecoai oracle run`, `ecoai up`): its summary, printed line and exit code."""

from __future__ import annotations

import json
from typing import Any

from oracle.conventions import eco_from_wei, efficiency_credits_wei, mj_to_kwh
from oracle.node import state as st
from oracle.node.chain import GreenProofClient, RpcUnavailable
from oracle.node.loop import RunResult
from oracle.node.service import ChainView
from oracle.progress import plural


def summarize(result: RunResult, client: GreenProofClient, view: ChainView) -> dict[str, Any]:
    """The run's one-line summary: accepted proofs (tx, gas), credits earned, energy, work and carbon."""
    accepted = [r for r in result.epochs if r.status == st.ACCEPTED]
    eff = view.efficiency
    # Credited with the class parameters in force at submit time (GreenProof); the node's view of them.
    earned = sum(
        efficiency_credits_wei(eff.baseline_uj_per_unit, r.efficiency_uj_per_unit or eff.baseline_uj_per_unit,
                               r.work_total or 0, eff.max_units_per_second, r.epoch_seconds)
        for r in accepted
    )
    energy_mj = sum(r.energy_mj or 0 for r in result.epochs if r.energy_mj is not None)
    work_units = sum(r.work_total or 0 for r in result.epochs)
    footprint_mj = sum(r.footprint_mj or 0 for r in result.epochs)
    energy_kwh = mj_to_kwh(energy_mj)
    methods: set[str] = set()
    energy_by_kind_mj: dict[str, int] = {}
    for r in result.epochs:
        methods.update(r.energy_by_method or {})
        for kind, mj in (r.energy_by_kind or {}).items():
            energy_by_kind_mj[kind] = energy_by_kind_mj.get(kind, 0) + mj
    try:
        accrued = client.accrued(view.beneficiary)
    except RpcUnavailable:
        accrued = None
    return {
        "epochs": len(result.epochs),
        "epoch_seconds": view.epoch_seconds,
        "node": client.address,
        "beneficiary": view.beneficiary,
        "proofs_accepted": [
            {
                "epoch": r.epoch,
                "tx_hash": r.tx_hash,
                "gas": r.gas_used,
                "block": r.block,
                "tier": r.tier,
                "efficiency_uj_per_unit": r.efficiency_uj_per_unit,
                "work_units": r.work_total,
                "methods": r.methods,
                "batch_size": r.batch_size or 1,
                "gas_per_epoch": None if r.gas_used is None else r.gas_used // (r.batch_size or 1),
                "prove_seconds": r.prove_seconds,
            }
            for r in accepted
        ],
        "over_budget": [r.epoch for r in result.epochs if r.status == st.OVER_BUDGET],
        "incomplete": [r.epoch for r in result.epochs if r.status == st.INCOMPLETE],
        "zero_work": [r.epoch for r in result.epochs if r.status == st.ZERO_WORK],
        "below_minimum": [r.epoch for r in result.epochs if r.status == st.BELOW_MINIMUM],
        "failed": [{"epoch": r.epoch, "reason": r.note} for r in result.epochs if r.status == st.FAILED],
        "pending": result.pending_left,
        "credits": eco_from_wei(earned),
        "credits_wei": str(earned),
        "beneficiary_accrued_wei": None if accrued is None else str(accrued),
        "energy_kwh": energy_kwh,
        "carbon_kg": energy_kwh * view.carbon_g_per_kwh / 1000,
        "carbon_g_per_kwh": view.carbon_g_per_kwh,
        "region": view.region,
        "hardware_class": view.hardware_class,
        "class_id": eff.class_id,
        "work_unit": eff.unit,
        "work_units": work_units,
        "energy_per_unit_uj": None if not work_units else 1000 * energy_mj / work_units,
        "work_by_kind": sorted({r.work_method for r in result.epochs if r.work_method}),
        "node_footprint_mj": footprint_mj,
        "node_footprint_method": next((r.footprint_method for r in result.epochs if r.footprint_method), None),
        "sources": sorted(methods),
        "energy_by_kind_mj": energy_by_kind_mj,
    }


def exit_code(summary: dict[str, Any]) -> int:
    """0 when every measured epoch reached an outcome (accepted, over budget, zero work, below the minimum,
    incomplete); 1 when a proof
    failed or is still queued."""
    return 1 if summary["failed"] or summary["pending"] else 0


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """One line on stdout: JSON (--json) or words."""
    if as_json:
        print(json.dumps(summary, separators=(",", ":")))
        return
    print(
        f"{plural(summary['epochs'], 'epoch')}: {plural(len(summary['proofs_accepted']), 'proof')} accepted, "
        f"{len(summary['over_budget'])} over budget, {len(summary['incomplete'])} incomplete, "
        f"{len(summary['zero_work'])} zero work, {len(summary['failed'])} failed, {summary['pending']} pending; "
        f"{summary['credits']:.6f} ECO earned; {plural(summary['work_units'], summary['work_unit'] or 'unit')}, "
        f"{summary['energy_kwh']:.6f} kWh, {summary['carbon_kg']:.6f} kg CO2 ({summary['region']})"
    )
