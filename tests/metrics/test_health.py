"""Exporter probes (Kubernetes): /healthz follows the sampler, /readyz the latest RPC call; /metrics carries the
node label from NODE_NAME. Against the real HTTP endpoint."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

import oracle.metrics as metrics_module
from oracle.measure import Reading
from oracle.metrics import Metrics


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_health_and_readiness_probes_and_node_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    metrics = Metrics()
    exporter = metrics.start_exporter(port=0, host="127.0.0.1")
    base = f"http://127.0.0.1:{exporter.port}"
    try:
        assert _status(base + "/healthz") == 503  # no sampler tick yet
        assert _status(base + "/readyz") == 503  # no RPC answer yet
        metrics.observe([Reading(0.0, 0.1, "replay:h200", "replay", "energy_counter", "replayed", 12_500.0)],
                        now=time.time())
        assert _status(base + "/healthz") == 200
        metrics.rpc_answered(True)
        assert _status(base + "/readyz") == 200
        metrics.rpc_answered(False)
        assert _status(base + "/readyz") == 503
        monkeypatch.setattr(metrics_module, "HEALTHY_SAMPLE_AGE_S", 0.2)  # a stalled sampler, without waiting 30 s
        time.sleep(0.3)
        assert _status(base + "/healthz") == 503
        with urllib.request.urlopen(base + "/metrics", timeout=5) as reply:
            text = reply.read().decode()
        assert 'ecoai_energy_joules_total{container="unknown",device="replay:h200",gpu_uuid="",kind="replayed",' \
               'method="replay/energy_counter",namespace="unknown",node="gpu-node-7",pod="unknown"} 12.5' in text
    finally:
        exporter.close()
    with socket.socket() as probe:  # stopped: nothing listens any more
        assert probe.connect_ex(("127.0.0.1", exporter.port)) != 0
