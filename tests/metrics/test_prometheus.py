"""A real Prometheus (Debian package) on loopback scrapes our exporter and the metric is queried back."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from oracle.net import free_port
from oracle.measure import Gap, Reading
from oracle.metrics import Metrics
from oracle.paths import REPO_ROOT

ALERTS = REPO_ROOT / "oracle" / "monitoring" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_promtool_accepts_alert_rules():
    out = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 5 rules found" in out.stdout


def test_real_prometheus_scrapes_exporter(tmp_path: Path):
    metrics = Metrics()
    metrics.observe([Reading(0.0, 0.1, "replay:h200", "replay", "energy_counter", "replayed", 12_500.0),
                     Gap(0.1, 0.2, "replay:h200", "replay", "test gap")], now=time.time())
    metrics.epoch("over_budget")
    metrics.proof("failed")
    metrics.set_energy_bound(energy_bound_mj=600_000, epoch_length_s=5)
    exporter = metrics.start_exporter(port=0)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {ALERTS}\n"
        "scrape_configs:\n  - job_name: ecoai\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.port}']\n")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))
    base = f"http://127.0.0.1:{prom_port}/api/v1"
    try:
        deadline = time.time() + 60
        result: list = []
        while time.time() < deadline and not result:
            time.sleep(0.5)
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                q = urllib.parse.quote('ecoai_energy_joules_total{kind="replayed"}')
                result = _get(f"{base}/query?query={q}")["data"]["result"]
            except OSError:
                continue
        assert result, "Prometheus never returned the scraped metric"
        assert result[0]["metric"]["device"] == "replay:h200"
        assert result[0]["metric"]["method"] == "replay/energy_counter"
        assert float(result[0]["value"][1]) == pytest.approx(12.5)
        bound = _get(f"{base}/query?query=ecoai_energy_bound_watts")["data"]["result"]
        assert float(bound[0]["value"][1]) == pytest.approx(120.0)
        q = urllib.parse.quote('ecoai_epochs_total{outcome="over_budget"}')
        assert float(_get(f"{base}/query?query={q}")["data"]["result"][0]["value"][1]) == 1.0
        groups = _get(f"{base}/rules")["data"]["groups"]
        names = {r["name"] for g in groups for r in g["rules"]}
        assert {"EcoAISamplerStalled", "EcoAIProofFailures", "EcoAIEnergyBurnRateHigh"} <= names
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        exporter.close()
