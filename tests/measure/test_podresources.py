"""Pod attribution from the kubelet's pod-resources API (oracle.measure.podresources), against a real gRPC server on a
unix socket (kubelet_standin.py, labelled stand-in); the GPU UUIDs NVML reports (library stand-in)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubelet_standin import GPU, StandInKubelet, kubelet_server, pod
from nvml_standin import StandInGpu, StandInNvml

from oracle.measure.nvml import NvmlSource
from oracle.measure.podresources import (UNKNOWN_POD, PodRef, PodResourcesUnavailable, PodResourcesWatcher,
                                         list_gpu_holders)
from oracle.measure.podresources_relay import serve

UUID_A, UUID_B, UUID_C, UUID_D, UUID_E = (f"GPU-{n}{n}{n}{n}{n}{n}{n}{n}-0000-0000-0000-00000000000{n}"
                                          for n in range(1, 6))
CLUSTER = [
    pod("research", "train-llm-0", {"trainer": [(GPU, [UUID_A, UUID_B])], "sidecar": []}),
    pod("inference", "vllm-7f9c", {"server": [(GPU, [UUID_C]), ("example.com/fpga", ["fpga0"])]}),
    # Time-slicing: replicas <UUID>::<n>. D is shared by two pods (not attributable), E has one replica in use.
    pod("team-a", "notebook", {"jupyter": [(GPU + ".shared", [f"{UUID_D}::0", f"{UUID_E}::3"])]}),
    pod("team-b", "notebook", {"jupyter": [(GPU + ".shared", [f"{UUID_D}::1"])]}),
    pod("kube-system", "coredns", {"coredns": []}),
]


def test_list_maps_each_gpu_uuid_to_its_namespace_pod_and_container(tmp_path: Path) -> None:
    sock = tmp_path / "kubelet.sock"
    kubelet = StandInKubelet(CLUSTER)
    with kubelet_server(sock, kubelet):
        holders = list_gpu_holders(str(sock), timeout_s=5)
    assert holders == {
        UUID_A: PodRef("research", "train-llm-0", "trainer"),
        UUID_B: PodRef("research", "train-llm-0", "trainer"),
        UUID_C: PodRef("inference", "vllm-7f9c", "server"),
        UUID_D: UNKNOWN_POD,  # two pods share it: its energy cannot be split honestly
        UUID_E: PodRef("team-a", "notebook", "jupyter"),
    }  # the FPGA is not a GPU and is not listed
    assert kubelet.calls == 1


def test_watcher_answers_from_its_cache_and_unknown_for_unheld_gpus(tmp_path: Path) -> None:
    sock = tmp_path / "kubelet.sock"
    watcher = PodResourcesWatcher(str(sock), refresh_s=60, timeout_s=5)
    assert watcher.holder(UUID_A) == UNKNOWN_POD and not watcher.up  # nothing asked yet: unknown, not a guess
    kubelet = StandInKubelet(CLUSTER)
    with kubelet_server(sock, kubelet):
        assert watcher.refresh() is True
    assert watcher.up
    assert watcher.holder(UUID_C) == PodRef("inference", "vllm-7f9c", "server")  # from the cache: server gone
    assert watcher.holder("GPU-not-allocated-to-anyone") == UNKNOWN_POD
    assert watcher.holder("") == UNKNOWN_POD
    assert kubelet.calls == 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ecoai.podresources" and r.levelno == logging.WARNING]


def test_missing_socket_gives_unknown_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ecoai.podresources")
    watcher = PodResourcesWatcher(str(tmp_path / "absent.sock"), refresh_s=60, timeout_s=1)
    assert [watcher.refresh() for _ in range(3)] == [False, False, False]
    assert watcher.holder(UUID_A) == UNKNOWN_POD and not watcher.up
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "no kubelet pod-resources socket" in warnings[0]
    with pytest.raises(PodResourcesUnavailable):
        list_gpu_holders(str(tmp_path / "absent.sock"))


def test_kubelet_error_drops_the_old_mapping_to_unknown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sock = tmp_path / "kubelet.sock"
    kubelet = StandInKubelet(CLUSTER)
    watcher = PodResourcesWatcher(str(sock), refresh_s=60, timeout_s=5)
    with kubelet_server(sock, kubelet):
        assert watcher.refresh()
        assert watcher.holder(UUID_A).pod == "train-llm-0"
        kubelet.mode = "error"
        assert watcher.refresh() is False
    # A stale mapping could name a pod that has released the GPU since: unknown, not the last answer.
    assert watcher.holder(UUID_A) == UNKNOWN_POD and not watcher.up
    assert any("PERMISSION_DENIED" in w for w in _warnings(caplog))


def test_hanging_kubelet_times_out_to_unknown(tmp_path: Path) -> None:
    sock = tmp_path / "kubelet.sock"
    kubelet = StandInKubelet(CLUSTER, mode="hang")
    watcher = PodResourcesWatcher(str(sock), refresh_s=60, timeout_s=0.5)
    with kubelet_server(sock, kubelet):
        started = time.monotonic()
        assert watcher.refresh() is False
        took = time.monotonic() - started
        assert kubelet.calls == 1  # the call reached the server and hung there
    assert took < 3.0, f"a hung kubelet held the caller {took:.1f} s (timeout 0.5 s)"
    assert watcher.holder(UUID_A) == UNKNOWN_POD


def test_socket_file_nobody_listens_on_gives_unknown(tmp_path: Path) -> None:
    sock = tmp_path / "kubelet.sock"
    with socket.socket(socket.AF_UNIX) as s:  # a kubelet that died leaves its socket file behind
        s.bind(str(sock))
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    watcher = PodResourcesWatcher(str(sock), refresh_s=60, timeout_s=2)
    started = time.monotonic()
    assert watcher.refresh() is False and watcher.holder(UUID_A) == UNKNOWN_POD
    assert time.monotonic() - started < 5


def test_background_polling_follows_the_kubelet_down_up_and_down(tmp_path: Path) -> None:
    sock = tmp_path / "kubelet.sock"
    watcher = PodResourcesWatcher(str(sock), refresh_s=0.1, timeout_s=1).start()
    try:
        time.sleep(0.3)
        assert watcher.holder(UUID_A) == UNKNOWN_POD  # no kubelet yet
        with kubelet_server(sock, StandInKubelet(CLUSTER)):  # it starts: a fresh channel finds it at once
            deadline = time.monotonic() + 10
            while watcher.holder(UUID_A) == UNKNOWN_POD and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watcher.holder(UUID_A) == PodRef("research", "train-llm-0", "trainer")
        deadline = time.monotonic() + 10
        while watcher.up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.holder(UUID_A) == UNKNOWN_POD  # it stopped: back to unknown
    finally:
        watcher.close()
    assert not any(t.name == "ecoai-podresources" for t in threading.enumerate())


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The sidecar's relay (real asyncio unix sockets) in a thread: (its listening socket, its upstream path)."""
    listen, upstream = tmp_path / "relay.sock", tmp_path / "kubelet.sock"
    loop = asyncio.new_event_loop()
    stop, ready = asyncio.Event(), asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(str(listen), str(upstream), 0o660, stop, ready),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not ready.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.is_set()
    try:
        yield listen, upstream
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)
        loop.close()
    assert not listen.exists()


def test_relay_carries_list_to_the_kubelet_and_its_socket_is_group_only(relay: tuple[Path, Path]) -> None:
    listen, upstream = relay
    assert stat.S_IMODE(os.stat(listen).st_mode) == 0o660
    with pytest.raises(PodResourcesUnavailable):  # no kubelet behind the relay: unavailable, not a hang
        list_gpu_holders(str(listen), timeout_s=2)
    with kubelet_server(upstream, StandInKubelet(CLUSTER)):
        holders = list_gpu_holders(str(listen), timeout_s=5)
        assert holders[UUID_C] == PodRef("inference", "vllm-7f9c", "server") and len(holders) == 5
        assert list_gpu_holders(str(listen), timeout_s=5) == holders  # a second connection through it


def test_nvml_source_reports_each_gpus_uuid() -> None:
    src = NvmlSource(StandInNvml([StandInGpu(uuid=UUID_A, counter_mj=[0]), StandInGpu(uuid=None, counter_mj=[0])]))
    assert src.gpu_uuids() == {"gpu0:NVIDIA H200": UUID_A, "gpu1:NVIDIA H200": ""}  # unreadable: empty, still measured
    assert [g["uuid"] for g in src.info()] == [UUID_A, ""]
