"""Assembles a running oracle node from its config: key, chain client, state, meter, prover, exporter.

Shared by `ecoai oracle run` and `ecoai up` (oracle.app.up).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.chain.deployment import load_deployment
from oracle.conventions import bytes32_to_label
from oracle.errors import UsageError
from oracle.measure.store import node_store_path
from oracle.node.chain import FeeCaps, GreenProofClient, RpcUnavailable
from oracle.node.config import NodeConfig
from oracle.node.keys import NodeKey, load_key
from oracle.node.loop import OracleLoop
from oracle.node.state import NodeState
from oracle.paths import state_dir

log = logging.getLogger("ecoai.oracle")


def node_db_path() -> Path:
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
    key = key or load_key(config.key.account, config.key.passphrase_env, config.chain.is_local,
                                          config.key.passphrase_file)
    deployed = load_deployment(config.chain.deployment_path(), "config field chain.deployment")
    caps = FeeCaps.from_gwei(
        config.submit.max_fee_per_gas_gwei, config.submit.max_priority_fee_gwei, config.submit.max_gas_per_submit
    )
    client = GreenProofClient(config.chain.rpc_url, deployed, key, fee_caps=caps)
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
    hardware_class = bytes32_to_label(hardware_class_b)
    region = bytes32_to_label(region_b)
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


def build_loop(
    config: NodeConfig,
    client: GreenProofClient,
    view: ChainView,
    sources: tuple[str, ...],
    state: NodeState | None = None,
) -> OracleLoop:
    """The epoch loop with its adapters: sampler + store, Groth16 prover, metrics, submission timing."""
    from oracle.metrics import Metrics
    from oracle.measure.store import Store
    from oracle.node.measuring import StoreMeter
    from oracle.node.metrics import NodeMetrics
    from oracle.node.proving import ZkEpochProver
    from oracle.node.submit_timing import deferred_send_time
    from oracle.zk import random_salt

    metrics = NodeMetrics(Metrics(), view.region, view.carbon_g_per_kwh, max(view.tiers_mj), view.epoch_seconds)
    client.on_rpc = metrics.metrics.rpc_answered  # /readyz follows the node's own RPC calls
    store_path = node_store_path()
    store_path.parent.mkdir(parents=True, exist_ok=True)
    meter = StoreMeter(sources, config.measure.sample_hz, store=Store(store_path), sinks=[metrics.metrics.sink])
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
        defer_until=deferred_send_time(config.submit, view.epoch_seconds, view.max_epoch_age_s),
    )


def start_exporter(loop: OracleLoop, port: int, host: str = "127.0.0.1") -> Any:
    """Serve the loop's metrics and probes on host:port (None when port is 0); the caller closes it."""
    if not port:
        return None
    exporter = loop.metrics.metrics.start_exporter(port, host)  # type: ignore[attr-defined]
    log.info("metrics on %s", exporter.url)
    return exporter


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and Ctrl-C set `stop`: the loop finishes its step (state stays consistent) and returns.

    Call it again after anything that may install its own handlers (importing Ape does, for SIGINT): the
    second call re-installs ours only where another took over, and says so in the debug log."""
    import signal

    existing = getattr(stop, "_ecoai_handler", None)
    if existing is None:

        def handler(signum: int, frame: object) -> None:
            log.info("%s received: stopping", signal.Signals(signum).name)
            stop.set()

        existing = handler
        stop._ecoai_handler = handler  # type: ignore[attr-defined]
    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if current is not existing:
            if current not in (signal.SIG_DFL, signal.default_int_handler, None):
                log.debug("%s handler %r replaced by the node's", signal.Signals(signum).name, current)
            signal.signal(signum, existing)
