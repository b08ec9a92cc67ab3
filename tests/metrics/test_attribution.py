"""Per-node and per-pod attribution of GPU energy in the exported metrics, scraped over loopback HTTP from the real
exporter: NvmlSource on the NVML library stand-in (the GPUs' UUIDs) and the pod-resources client against a real
gRPC server standing in for the kubelet (tests/measure/kubelet_standin.py)."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest
from kubelet_standin import GPU, StandInKubelet, kubelet_server, pod
from nvml_standin import StandInGpu, StandInNvml, drive
from prometheus_client.parser import text_string_to_metric_families

import oracle.metrics as metrics_module
from oracle.measure import Reading
from oracle.measure.nvml import NvmlSource
from oracle.measure.podresources import PodResourcesWatcher
from oracle.metrics import Exporter, Metrics

UUID0 = "GPU-5c0ffee0-1111-2222-3333-444455556666"
UUID1 = "GPU-beef0000-aaaa-bbbb-cccc-ddddeeeeffff"
TRAIN = pod("research", "train-llm-0", {"trainer": [(GPU, [UUID0])]})  # gpu1 (UUID1) is held by no pod


def _samples(exporter: Exporter, name: str) -> list[tuple[dict[str, str], float]]:
    with urllib.request.urlopen(exporter.url, timeout=5) as reply:
        text = reply.read().decode()
    return [(s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name]


def _two_gpus() -> NvmlSource:
    return NvmlSource(StandInNvml([StandInGpu(uuid=UUID0, counter_mj=[0, 0, 12_000, 30_000]),
                                   StandInGpu(uuid=UUID1, counter_mj=[0, 0, 5_000, 10_000])]))


def _wait(predicate: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert predicate(), f"timed out waiting for {what}"  # type: ignore[operator]


def test_exported_gpu_energy_carries_node_gpu_uuid_and_the_pod_using_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_NAME", "gpu-07")
    sock = tmp_path / "kubelet.sock"
    source = _two_gpus()
    metrics = Metrics()
    metrics.set_gpu_uuids(source.gpu_uuids())
    watcher = PodResourcesWatcher(str(sock), refresh_s=0.2, timeout_s=1)
    metrics.attribute_pods(watcher)
    with kubelet_server(sock, StandInKubelet([TRAIN])):
        exporter = metrics.start_exporter(port=0)  # starts the watcher
        try:
            _wait(lambda: watcher.up, "the first List answer")
            metrics.observe(drive(source, [0.0, 0.1, 0.2, 0.3]), now=time.time())
            metrics.observe([Reading(0.2, 0.3, "cpu", "cpu", "util_x_tdp", "estimated", 1_500.0)])
            energy = {(s["device"], s["pod"]): (s, v) for s, v in _samples(exporter, "ecoai_energy_joules_total")}
            up = _samples(exporter, "ecoai_pod_attribution_up")
        finally:
            exporter.close()
    labels, joules = energy[("gpu0:NVIDIA H200", "train-llm-0")]
    assert labels == {"device": "gpu0:NVIDIA H200", "method": "nvml/energy_counter", "kind": "measured",
                      "node": "gpu-07", "gpu_uuid": UUID0, "namespace": "research", "pod": "train-llm-0",
                      "container": "trainer"}
    assert joules == pytest.approx(30.0)  # the counter's 0 -> 30,000 mJ
    idle, idle_joules = energy[("gpu1:NVIDIA H200", "unknown")]  # held by no pod: unknown, never invented
    assert (idle["gpu_uuid"], idle["namespace"], idle["container"]) == (UUID1, "unknown", "unknown")
    assert idle_joules == pytest.approx(10.0)
    cpu, _ = energy[("cpu", "unknown")]  # not a GPU: no UUID, no pod
    assert cpu["gpu_uuid"] == "" and cpu["namespace"] == "unknown" and cpu["node"] == "gpu-07"
    assert up == [({}, 1.0)]
    assert not any(t.name == "ecoai-podresources" for t in threading.enumerate())  # closed with the exporter


def _one_gpu_held_by_train(tmp_path: Path, counter_mj: list[int]) -> tuple[Path, NvmlSource, Metrics,
                                                                          PodResourcesWatcher, StandInKubelet]:
    """One stand-in GPU (UUID0) whose counter reads `counter_mj`, metrics attributing it through a watcher that the
    test refreshes by hand, and a stand-in kubelet (not started) saying TRAIN holds it."""
    sock = tmp_path / "kubelet.sock"
    source = NvmlSource(StandInNvml([StandInGpu(uuid=UUID0, counter_mj=counter_mj)]))
    metrics = Metrics(node_name="gpu-07")
    metrics.set_gpu_uuids(source.gpu_uuids())
    watcher = PodResourcesWatcher(str(sock), refresh_s=3600, timeout_s=2)  # refreshed by hand
    metrics.attribute_pods(watcher)
    return sock, source, metrics, watcher, StandInKubelet([TRAIN])


def test_a_gpu_changing_hands_counts_each_pods_share_and_moves_the_power_gauge(tmp_path: Path) -> None:
    sock, source, metrics, watcher, kubelet = _one_gpu_held_by_train(tmp_path, [0, 0, 4_000, 10_000])
    exporter = metrics.start_exporter(port=0)
    try:
        with kubelet_server(sock, kubelet):
            assert watcher.refresh()
            metrics.observe(drive(source, [0.0, 0.1, 0.2]))  # 4 J while train-llm-0 holds the GPU
            kubelet.pods = [pod("inference", "vllm-0", {"server": [(GPU, [UUID0])]})]
            assert watcher.refresh()
            metrics.observe(drive(source, [0.3]))  # 6 J while vllm-0 holds it
        energy = {s["pod"]: v for s, v in _samples(exporter, "ecoai_energy_joules_total")}
        power = [(s["pod"], v) for s, v in _samples(exporter, "ecoai_power_watts")]
    finally:
        exporter.close()
    assert energy == {"train-llm-0": pytest.approx(4.0), "vllm-0": pytest.approx(6.0)}
    assert power == [("vllm-0", pytest.approx(60.0))]  # one power series per GPU: the current holder's


def _hand_over_to_vllm(source, metrics, watcher, kubelet) -> None:
    """Three readings while train-llm-0 holds the GPU, then one after it went to vllm-0."""
    assert watcher.refresh()
    metrics.observe(drive(source, [0.0, 0.1, 0.2]))  # train-llm-0
    kubelet.pods = [pod("inference", "vllm-0", {"server": [(GPU, [UUID0])]})]
    assert watcher.refresh()
    metrics.observe(drive(source, [0.3]))  # vllm-0


def test_energy_series_of_pods_that_released_the_gpu_are_dropped_later(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "RETIRED_SERIES_S", 0.2)
    sock, source, metrics, watcher, kubelet = _one_gpu_held_by_train(tmp_path, [0, 0, 1_000, 2_000, 3_000])
    exporter = metrics.start_exporter(port=0)
    try:
        with kubelet_server(sock, kubelet):
            _hand_over_to_vllm(source, metrics, watcher, kubelet)  # train-llm-0's series retired now
            assert {s["pod"] for s, _ in _samples(exporter, "ecoai_energy_joules_total")} == {"train-llm-0", "vllm-0"}
            time.sleep(0.3)
            kubelet.pods = []  # the GPU is free again: "unknown" from now on
            assert watcher.refresh()
            metrics.observe(drive(source, [0.4]))
        energy = {s["pod"]: v for s, v in _samples(exporter, "ecoai_energy_joules_total")}
    finally:
        exporter.close()
    # train-llm-0 retired > 0.2 s ago: dropped; vllm-0 retired just now: kept until its turn.
    assert energy == {"vllm-0": pytest.approx(1.0), "unknown": pytest.approx(1.0)}


def test_a_single_hand_over_retires_the_old_series_while_the_new_holder_keeps_the_gpu(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "RETIRED_SERIES_S", 0.2)
    sock, source, metrics, watcher, kubelet = _one_gpu_held_by_train(tmp_path, [0, 0, 1_000, 2_000, 3_000])
    exporter = metrics.start_exporter(port=0)
    try:
        with kubelet_server(sock, kubelet):
            _hand_over_to_vllm(source, metrics, watcher, kubelet)  # and no further change of holder
            time.sleep(0.3)
            metrics.observe(drive(source, [0.4]))
        energy = {s["pod"]: v for s, v in _samples(exporter, "ecoai_energy_joules_total")}
    finally:
        exporter.close()
    assert energy == {"vllm-0": pytest.approx(2.0)}  # train-llm-0 retired > 0.2 s ago: dropped


def test_no_kubelet_means_unknown_pod_labels_and_attribution_down(tmp_path: Path) -> None:
    source = _two_gpus()
    metrics = Metrics(node_name="gpu-07")
    metrics.set_gpu_uuids(source.gpu_uuids())
    metrics.attribute_pods(PodResourcesWatcher(str(tmp_path / "absent.sock"), refresh_s=0.2, timeout_s=1))
    exporter = metrics.start_exporter(port=0)
    try:
        time.sleep(0.3)  # the watcher has tried (and failed) at least once
        metrics.observe(drive(source, [0.0, 0.1, 0.2]), now=time.time())
        energy = _samples(exporter, "ecoai_energy_joules_total")
        up = _samples(exporter, "ecoai_pod_attribution_up")
    finally:
        exporter.close()
    assert {(s["gpu_uuid"], s["namespace"], s["pod"], s["container"]) for s, _ in energy} == {
        (UUID0, "unknown", "unknown", "unknown"), (UUID1, "unknown", "unknown", "unknown")}
    assert up == [({}, 0.0)]


def test_attribution_off_exports_unknown_pods_and_no_attribution_gauge() -> None:
    metrics = Metrics(node_name="")
    metrics.observe([Reading(0.0, 0.1, "gpu0:H200", "replay", "energy_counter", "replayed", 12_500.0)])
    exporter = metrics.start_exporter(port=0)
    try:
        energy = _samples(exporter, "ecoai_energy_joules_total")
        assert _samples(exporter, "ecoai_pod_attribution_up") == []
    finally:
        exporter.close()
    assert [(s["gpu_uuid"], s["pod"]) for s, _ in energy] == [("", "unknown")]  # a replayed GPU has no UUID
