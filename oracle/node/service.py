"""Assembles a running oracle node from its config: key, chain client, state, meter, prover, exporter.

Shared by `ecoai oracle run` and `ecoai up`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from oracle.errors import UsageError
from oracle.node import state as st
from oracle.node.chain import GreenProofClient, RpcUnavailable, load_deployment
from oracle.node.config import NodeConfig
from oracle.node.keys import NodeKey, load_key
from oracle.node.loop import OracleLoop, RunResult
from oracle.node.state import NodeState
from oracle.node.tiers import ECO_WEI, MJ_PER_KWH
from oracle.paths import state_dir

log = logging.getLogger("ecoai.oracle")


def node_db_path() -> Any:
    return state_dir() / "node.db"


@dataclass
class ChainView:
    """What the node reads from GreenProof at start: its admission and the governed parameters."""

    epoch_seconds: int
    max_epoch_age_s: int
    hardware_class: str
    region: str
    beneficiary: str
    tiers_mj: list[int]
    baseline_mj: int
    carbon_g_per_kwh: int


def connect(config: NodeConfig, key: NodeKey | None = None, wait_s: float = 30.0) -> GreenProofClient:
    key = key or load_key(config.key.account, config.key.passphrase_env, config.chain.is_local)
    deployed = load_deployment(config.chain.deployment_path())
    client = GreenProofClient(config.chain.rpc_url, deployed, key)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.check_connection()
            return client
        except RpcUnavailable as exc:
            if time.monotonic() >= deadline:
                raise UsageError(f"config field chain.rpc_url: {exc}") from None
            log.warning("%s; waiting for it", exc)
            time.sleep(1.0)


def read_chain(client: GreenProofClient, config: NodeConfig, epoch_seconds: int | None) -> ChainView:
    beneficiary, hardware_class_b, region_b, active = client.node_info()
    if not active:
        raise UsageError(
            f"config field key.account: node {client.address} is not admitted on GreenProof "
            f"{client.contract.address} (a governor must call admitNode)"
        )
    hardware_class = hardware_class_b.rstrip(b"\0").decode("ascii", "replace")
    region = region_b.rstrip(b"\0").decode("ascii", "replace")
    if hardware_class != config.node.hardware_class:
        raise UsageError(
            f"config field node.hardware_class: {config.node.hardware_class!r} but GreenProof admitted "
            f"this node as {hardware_class!r}"
        )
    if region != config.node.region:
        raise UsageError(
            f"config field node.region: {config.node.region!r} but GreenProof admitted this node in {region!r}"
        )
    length = client.epoch_length()
    wanted = epoch_seconds or config.node.epoch_seconds
    if wanted and wanted != length:
        raise UsageError(f"config field node.epoch_seconds: {wanted} s but GreenProof.epochLength() is {length} s")
    return ChainView(
        length,
        client.max_epoch_age(),
        hardware_class,
        region,
        beneficiary,
        client.tiers_of(hardware_class),
        client.baseline_of(hardware_class),
        client.carbon_factor_of(region),
    )


def summarize(result: RunResult, client: GreenProofClient, view: ChainView) -> dict[str, Any]:
    """The run's one-line summary: accepted proofs (tx, gas), credits earned, energy and carbon."""
    accepted = [r for r in result.epochs if r.status == st.ACCEPTED]
    earned = sum((view.baseline_mj - (r.threshold_mj or 0)) * ECO_WEI // MJ_PER_KWH for r in accepted)
    energy_mj = sum(r.energy_mj or 0 for r in result.epochs if r.energy_mj is not None)
    energy_kwh = energy_mj / MJ_PER_KWH
    # An epoch's method list holds the methods and, as "kind=NmJ", its energy per kind (measured/estimated/replayed).
    methods: set[str] = set()
    energy_by_kind_mj: dict[str, int] = {}
    for r in result.epochs:
        for entry in r.methods or []:
            kind, sep, amount = entry.partition("=")
            if sep and amount.endswith("mJ") and amount[:-2].isdigit():
                energy_by_kind_mj[kind] = energy_by_kind_mj.get(kind, 0) + int(amount[:-2])
            else:
                methods.add(entry)
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
                "threshold_mj": r.threshold_mj,
            }
            for r in accepted
        ],
        "over_budget": [r.epoch for r in result.epochs if r.status == st.OVER_BUDGET],
        "incomplete": [r.epoch for r in result.epochs if r.status == st.INCOMPLETE],
        "failed": [{"epoch": r.epoch, "reason": r.note} for r in result.epochs if r.status == st.FAILED],
        "pending": result.pending_left,
        "credits": earned / ECO_WEI,
        "credits_wei": str(earned),
        "beneficiary_accrued_wei": None if accrued is None else str(accrued),
        "energy_kwh": energy_kwh,
        "carbon_kg": energy_kwh * view.carbon_g_per_kwh / 1000,
        "carbon_g_per_kwh": view.carbon_g_per_kwh,
        "region": view.region,
        "hardware_class": view.hardware_class,
        "sources": sorted(methods),
        "energy_by_kind_mj": energy_by_kind_mj,
    }


def build_loop(
    config: NodeConfig,
    client: GreenProofClient,
    view: ChainView,
    sources: tuple[str, ...],
    state: NodeState | None = None,
) -> OracleLoop:
    """The epoch loop with its adapters: sampler + store, Groth16 prover, metrics, deferral policy."""
    from oracle.metrics import Metrics
    from oracle.node.measuring import StoreMeter
    from oracle.node.metrics import NodeMetrics
    from oracle.node.proving import ZkEpochProver
    from oracle.node.scheduling import submission_deferral
    from oracle.zk import random_salt

    metrics = NodeMetrics(Metrics(), view.region, view.carbon_g_per_kwh, max(view.tiers_mj), view.epoch_seconds)
    meter = StoreMeter(sources, config.measure.sample_hz, sinks=[metrics.metrics.sink])
    return OracleLoop(
        state=state or NodeState(node_db_path()),
        client=client,
        meter=meter,
        prover_factory=ZkEpochProver,
        hardware_class=view.hardware_class,
        epoch_seconds=view.epoch_seconds,
        tiers_mj=view.tiers_mj,
        random_salt=random_salt,
        confirmations=config.chain.confirmations,
        max_backoff_s=config.submit.max_backoff_s,
        metrics=metrics,
        defer_until=submission_deferral(config, view),
    )


def start_exporter(loop: OracleLoop, port: int) -> Any:
    """Serve the loop's metrics on 127.0.0.1:port (None when port is 0); the caller closes it."""
    if not port:
        return None
    exporter = loop.metrics.metrics.start_exporter(port)  # type: ignore[attr-defined]
    log.info("metrics on %s", exporter.url)
    return exporter


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and Ctrl-C set `stop`: the loop finishes its step (state stays consistent) and returns."""
    import signal

    def handler(signum: int, frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def exit_code(summary: dict) -> int:
    """0 when every measured epoch reached an outcome (accepted, over budget, incomplete); 1 when a proof
    failed or is still queued."""
    return 1 if summary["failed"] or summary["pending"] else 0
