"""Which pod holds which GPU, from the kubelet's pod-resources API (for the pod labels of the energy metrics).

The kubelet serves gRPC `v1.PodResourcesLister` on a unix socket, by default
/var/lib/kubelet/pod-resources/kubelet.sock. `List` returns, per pod and container, the device IDs of every
device-plugin resource it was given; the NVIDIA device plugin's IDs for `nvidia.com/gpu` are the GPUs' NVML UUIDs
(`GPU-…`), so an NVML UUID names its holder directly. Time-slicing replicas (`GPU-…::N`) are folded onto their GPU.

Attribution is reporting only, never a guess: a GPU held by exactly one container gets that container; a GPU no
container holds, one shared by several (time-slicing), or any GPU while the API does not answer (no socket, not
on Kubernetes, permission denied, an error, a timeout) gets UNKNOWN_POD. A failing API is logged once per outage,
never raised to the caller.

grpcio/protobuf are imported only when the API is called (they are declared dependencies; the GPU check script
imports oracle.measure without them). The vendored proto and its generated modules: podresources_v1/.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ecoai.podresources")

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
# `nvidia.com/gpu`, and `nvidia.com/gpu.shared` when time-slicing renames the resource. MIG slices
# (`nvidia.com/mig-…`, IDs `MIG-…`) are not whole GPUs: their GPU stays unknown.
GPU_RESOURCE_PREFIX = "nvidia.com/gpu"
REPLICA_SEPARATOR = "::"  # the device plugin's time-slicing replica IDs: <GPU UUID>::<replica>
UNKNOWN = "unknown"
DEFAULT_REFRESH_S = 10.0
DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class PodRef:
    """The container a GPU is allocated to (namespace/pod/container), or UNKNOWN_POD."""

    namespace: str
    pod: str
    container: str


UNKNOWN_POD = PodRef(UNKNOWN, UNKNOWN, UNKNOWN)


class PodResourcesUnavailable(Exception):
    """The pod-resources API did not answer (the message says why)."""


def gpu_holders(pods: Iterable[Any]) -> dict[str, PodRef]:
    """GPU UUID → holder, from `List`'s `pod_resources` (protobuf PodResources messages or the same shape).

    A GPU listed for more than one container (time-slicing) maps to UNKNOWN_POD: its energy cannot be split
    between them honestly."""
    holders: dict[str, set[PodRef]] = {}
    for pod in pods:
        for container in pod.containers:
            ref = PodRef(pod.namespace, pod.name, container.name)
            for devices in container.devices:
                if not devices.resource_name.startswith(GPU_RESOURCE_PREFIX):
                    continue
                for device_id in devices.device_ids:
                    holders.setdefault(device_id.split(REPLICA_SEPARATOR, 1)[0], set()).add(ref)
    return {uuid: (next(iter(refs)) if len(refs) == 1 else UNKNOWN_POD) for uuid, refs in holders.items()}


def list_gpu_holders(socket_path: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, PodRef]:
    """One `List` call on the kubelet's socket: GPU UUID → holder. Raises PodResourcesUnavailable."""
    if not os.path.exists(socket_path):  # the usual case off Kubernetes: say so plainly, skip gRPC's retries
        raise PodResourcesUnavailable(f"no kubelet pod-resources socket at {socket_path}")
    import grpc

    from oracle.measure.podresources_v1 import api_pb2, api_pb2_grpc

    # A fresh channel per call: a channel that once failed waits out gRPC's reconnect backoff (up to 2 min)
    # before trying again, which would hide a restarted kubelet's new socket; a unix-socket connect is cheap.
    with grpc.insecure_channel(f"unix:{socket_path}") as channel:
        stub = api_pb2_grpc.PodResourcesListerStub(channel)
        try:
            response = stub.List(api_pb2.ListPodResourcesRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise PodResourcesUnavailable(f"{getattr(code, 'name', code)}: {details}") from None
    return gpu_holders(response.pod_resources)


class PodResourcesWatcher:
    """Polls the pod-resources API every `refresh_s` in a daemon thread and answers `holder()` from that cache.

    `holder()` never blocks on the kubelet: the sampler calls it 10 times a second and a hung API must not stall
    measuring. Until the first answer, and whenever the latest `List` failed, every GPU is UNKNOWN_POD (a stale
    mapping could name a pod that has since released the GPU)."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, refresh_s: float = DEFAULT_REFRESH_S,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if refresh_s <= 0 or timeout_s <= 0:
            raise ValueError("refresh_s and timeout_s must be > 0")
        self.socket_path = socket_path
        self.refresh_s = refresh_s
        self.timeout_s = min(timeout_s, refresh_s)  # one call never outlasts the polling period
        self._holders: Mapping[str, PodRef] = {}
        self._up = False
        self._failing: str | None = None  # the reason of the current outage, already logged
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshed_at: float | None = None  # time.monotonic() of the latest successful List

    @property
    def up(self) -> bool:
        """Whether the latest `List` answered."""
        with self._lock:
            return self._up

    def holder(self, gpu_uuid: str) -> PodRef:
        """The container holding this GPU per the latest answer; UNKNOWN_POD when not known."""
        with self._lock:
            return self._holders.get(gpu_uuid, UNKNOWN_POD) if self._up else UNKNOWN_POD

    def refresh(self) -> bool:
        """Call `List` once and replace the cache; False (and unknown holders) when it failed."""
        try:
            holders = list_gpu_holders(self.socket_path, self.timeout_s)
        except PodResourcesUnavailable as exc:
            self._failed(str(exc))
            return False
        except Exception as exc:  # a malformed answer or a broken install: still only labels, never a crash
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        with self._lock:
            self._holders, self._up = holders, True
        self.refreshed_at = time.monotonic()
        if self._failing is not None:
            log.info("kubelet pod-resources API at %s answers again: pod labels restored", self.socket_path)
            self._failing = None
        return True

    def _failed(self, reason: str) -> None:
        with self._lock:
            self._holders, self._up = {}, False
        if self._failing is None:  # once per outage: polling every few seconds would flood the log
            log.warning("kubelet pod-resources API unavailable (%s): GPU energy is labelled pod=%r until it "
                        "answers", reason, UNKNOWN)
            self._failing = reason

    def start(self) -> PodResourcesWatcher:
        """Poll in the background (first call at once); idempotent."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ecoai-podresources", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_s)

    def close(self) -> None:
        """Stop polling (waits at most one call's timeout for a call in flight)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1.0)
            self._thread = None
