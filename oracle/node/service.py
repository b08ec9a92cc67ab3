"""Assembles a running oracle node from its config: key, chain client, state, meter, prover, exporter.

Shared by `ecoai oracle run` and `ecoai up` (oracle.app.up).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from oracle.chain.deployment import load_deployment
from oracle.conventions import bytes32_to_label
from oracle.errors import UsageError
from oracle.measure.store import node_store_path
from oracle.node.chain import EfficiencyClassView, FeeCaps, GreenProofClient, RpcUnavailable
from oracle.node.config import NodeConfig
from oracle.node.keys import NodeKey, load_key
from oracle.node.loop import OracleLoop
from oracle.node.retry import Backoff
from oracle.node.schedule import EpochSchedule
from oracle.node.state import NodeState
from oracle.paths import state_dir

if TYPE_CHECKING:
    from oracle.metrics import Metrics

log = logging.getLogger("ecoai.oracle")
T = TypeVar("T")


def node_db_path() -> Path:
    return state_dir() / "node.db"


@dataclass
class ChainView:
    """What the node reads from GreenProof at start: its admission, its efficiency class and the schedule."""

    schedule: EpochSchedule
    max_epoch_age_s: int
    efficiency: EfficiencyClassView
    region: str
    beneficiary: str
    carbon_g_per_kwh: int
    admitted_at: int = 0

    @property
    def epoch_seconds(self) -> int:
        return self.schedule.current_length

    @property
    def hardware_class(self) -> str:
        return self.efficiency.hardware_class

    @property
    def class_id(self) -> str:
        return self.efficiency.class_id

    @property
    def tiers_uj_per_unit(self) -> list[int]:
        return self.efficiency.tiers_uj_per_unit

    @property
    def baseline_uj_per_unit(self) -> int:
        return self.efficiency.baseline_uj_per_unit


def wait_for_endpoint(url: str, call: Callable[[], T], wait_s: float | None = None) -> T:
    """Start-up: run `call` until the RPC endpoint answers. An outage (RpcUnavailable: unreachable, 5xx,
    garbage, JSON-RPC errors) is logged once and waited out with backoff, for ever unless `wait_s` is given
    (then UsageError once it has passed); anything else (a wrong chain id, no contract) raises at once."""
    backoff = Backoff(base_s=1.0, cap_s=30.0)
    deadline = None if wait_s is None else time.monotonic() + wait_s
    waiting = False
    while True:
        try:
            value = call()
        except RpcUnavailable as exc:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise UsageError(f"config field chain.rpc_url: {exc}") from None
            if not waiting:
                log.warning("RPC unavailable at start (%s); waiting for %s with backoff", exc, url)
                waiting = True
            delay = backoff.next_delay()
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - now)))
            continue
        if waiting:
            log.info("RPC endpoint %s is back; starting", url)
        return value


def connect(config: NodeConfig, key: NodeKey | None = None, wait_s: float | None = None) -> GreenProofClient:
    """The node's chain client, once the endpoint answers and serves the deployment's chain and contract
    (waits for an unavailable endpoint: see wait_for_endpoint)."""
    key = key or load_key(config.key.account, config.key.passphrase_env, config.chain.is_local,
                                          config.key.passphrase_file)
    deployed = load_deployment(config.chain.deployment_path(), "config field chain.deployment")
    caps = FeeCaps.from_gwei(
        config.submit.max_fee_per_gas_gwei, config.submit.max_priority_fee_gwei, config.submit.max_gas_per_submit
    )
    client = GreenProofClient(config.chain.rpc_url, deployed, key, fee_caps=caps)
    wait_for_endpoint(client.url, client.check_connection, wait_s)
    return client


def read_chain(client: GreenProofClient, config: NodeConfig, epoch_seconds: int | None,
               wait_s: float | None = None) -> ChainView:
    """What the node reads from GreenProof at start (waits for an unavailable endpoint, as `connect`)."""
    return wait_for_endpoint(client.url, lambda: _read_chain(client, config, epoch_seconds), wait_s)


def _read_chain(client: GreenProofClient, config: NodeConfig, epoch_seconds: int | None) -> ChainView:
    beneficiary, class_b, region_b, active, admitted_at = client.node_info()
    if not active:
        raise UsageError(
            f"config field key.account: node {client.address} is not admitted on GreenProof "
            f"{client.contract.address} (a governor must call admitNode)"
        )
    efficiency = client.efficiency_class(class_b)
    region = bytes32_to_label(region_b)
    if config.node.class_id and config.node.class_id != efficiency.class_id:
        raise UsageError(
            f"config field node.class_id: {config.node.class_id!r} but GreenProof admitted this node into "
            f"{efficiency.class_id!r}"
        )
    if efficiency.hardware_class != config.node.hardware_class:
        raise UsageError(
            f"config field node.hardware_class: {config.node.hardware_class!r} but GreenProof admitted "
            f"this node into class {efficiency.class_id!r} of hardware {efficiency.hardware_class!r}"
        )
    if region != config.node.region:
        raise UsageError(
            f"config field node.region: {config.node.region!r} but GreenProof admitted this node in {region!r}"
        )
    schedule = client.schedule()
    length = schedule.current_length
    wanted = epoch_seconds or config.node.epoch_seconds
    if wanted and wanted != length:
        raise UsageError(f"config field node.epoch_seconds: {wanted} s but GreenProof's epoch schedule has "
                         f"{length} s epochs")
    return ChainView(schedule, client.max_epoch_age(), efficiency, region, beneficiary,
                     client.carbon_factor_of(region_b), admitted_at)


def build_loop(
    config: NodeConfig,
    client: GreenProofClient,
    view: ChainView,
    sources: tuple[str, ...],
    state: NodeState | None = None,
    work_sources: tuple[str, ...] | None = None,
) -> OracleLoop:
    """The epoch loop with its adapters: counter reader (+ 10 Hz sampler for power-integrating sources) and
    the node's store, the Groth16 efficiency prover, metrics, submission timing. Refuses (UsageError) work
    sources whose unit is not the class's."""
    from oracle.conventions import N_INTERVALS
    from oracle.metrics import Metrics
    from oracle.measure.store import Store
    from oracle.node.measuring import Footprint, StoreMeter
    from oracle.node.metrics import NodeMetrics
    from oracle.node.proving import ZkEpochProver
    from oracle.node.submit_timing import deferred_send_time
    from oracle.zk import random_salt

    work_sources = work_sources or config.measure.work_sources
    metrics = NodeMetrics(Metrics(), view.region, view.carbon_g_per_kwh, max(view.tiers_uj_per_unit),
                          view.epoch_seconds)
    client.on_rpc = metrics.metrics.rpc_answered  # /readyz follows the node's own RPC calls
    store_path = node_store_path()
    store_path.parent.mkdir(parents=True, exist_ok=True)
    schedule = view.schedule
    meter = StoreMeter(
        sources, config.measure.sample_hz, store=Store(store_path), sinks=[metrics.metrics.sink],
        work_sources=work_sources, boundaries=lambda t: schedule.next_boundary(t, N_INTERVALS),
        allow_unmeasured=config.chain.is_local or config.measure.allow_unmeasured,
        replay_offset_s=config.measure.replay_offset_s,
    )
    attribute_energy(metrics.metrics, meter.sources, config)
    unit = view.efficiency.unit
    if meter.work_unit != unit:
        meter.close_sources()
        raise UsageError(
            f"config field measure.work_sources: they count {meter.work_unit!r} but the node's class "
            f"{view.class_id!r} on GreenProof counts {unit!r}"
        )
    return OracleLoop(
        state=state or NodeState(node_db_path()),
        client=client,
        meter=meter,
        prover_factory=ZkEpochProver,
        efficiency=view.efficiency,
        schedule=schedule,
        random_salt=random_salt,
        confirmations=config.chain.confirmations,
        max_backoff_s=config.submit.max_backoff_s,
        metrics=metrics,
        defer_until=deferred_send_time(config.submit, schedule, view.max_epoch_age_s),
        batch_size=config.submit.batch_size,
        batch_wait_s=config.submit.batch_wait_s,
        relay_url=config.submit.relay_url,
        footprint=Footprint(),
    )


def attribute_energy(metrics: Metrics, sources: Sequence[object], config: NodeConfig) -> None:
    """The attribution labels of the energy metrics: each NVML GPU's UUID and, when
    `exporter.pod_resources_socket` is set, the kubelet's pod-resources watcher (polled while the exporter runs)."""
    from oracle.measure.podresources import PodResourcesWatcher

    for source in sources:
        uuids = getattr(source, "gpu_uuids", None)  # only NvmlSource knows GPU UUIDs
        if uuids is not None:
            metrics.set_gpu_uuids(uuids())
    socket_path = config.exporter.pod_resources_socket
    if socket_path:
        metrics.attribute_pods(PodResourcesWatcher(socket_path, config.exporter.pod_resources_refresh_s))
        log.info("pod attribution: kubelet pod-resources API at %s, every %g s", socket_path,
                 config.exporter.pod_resources_refresh_s)


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
