"""The oracle's ConfigMap is a config the node's own loader accepts; the PrometheusRule is generated from
oracle/monitoring/alerts.yml and agrees with it."""

from __future__ import annotations

import importlib
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml


def _load_config() -> Any:
    """The node's own config loader."""
    return importlib.import_module("oracle.node.config")



def _configmap_toml(kube: Any) -> str:
    cm = next(d for d in kube.load_file(kube.KUBE_DIR / "oracle-configmap.yaml") if d["kind"] == "ConfigMap")
    return cm["data"]["oracle.toml"]


def test_oracle_configmap_parses_with_the_node_loader(kube: Any, tmp_path: Path) -> None:
    config = _load_config()
    path = tmp_path / "oracle.toml"
    path.write_text(_configmap_toml(kube))
    loaded = config.load_config(path)  # the node's own loader: an unknown key or a bad value raises UsageError
    assert loaded.chain.network == "ethereum:sepolia"
    assert loaded.chain.deployment == Path("/etc/ecoai/deployment/deployment.json")
    assert loaded.key.account == "ape:ecoai-node"
    assert loaded.measure.sources == ("nvml",)
    assert loaded.exporter.port == 9464 and loaded.exporter.host == "0.0.0.0"
    assert loaded.key.passphrase_file == Path("/var/run/secrets/ecoai/passphrase")
    assert loaded.measure.work_sources and loaded.measure.work_sources[0].startswith("vllm:")
    assert loaded.exporter.pod_resources_socket == "/run/ecoai/pod-resources/kubelet.sock"


def test_configmap_ports_and_paths_match_the_daemonset(by_kind_name: dict, kube: Any) -> None:
    data = tomllib.loads(_configmap_toml(kube))
    ds = by_kind_name[("DaemonSet", "ecoai-oracle")]
    spec = kube.pod_spec(ds)
    oracle = next(c for c in spec["containers"] if c["name"] == "oracle")
    ports = {p["name"]: p["containerPort"] for p in oracle["ports"]}
    assert ports["metrics"] == data["exporter"]["port"]
    mounts = {m["mountPath"]: m for m in oracle["volumeMounts"]}
    config_path = oracle["command"][oracle["command"].index("--config") + 1]
    assert config_path in mounts and mounts[config_path]["readOnly"]
    assert Path(data["chain"]["deployment"]).parent.as_posix() in mounts
    assert Path(data["key"]["passphrase_file"]).parent.as_posix() in mounts
    env = {e["name"]: e for e in oracle["env"]}
    alias = data["key"]["account"].split(":", 1)[1]
    key_volume = next(v for v in spec["volumes"] if v["name"] == "node-key")
    paths = {i["path"] for i in key_volume["secret"]["items"]}
    secret_root = "/var/run/secrets/ecoai"
    assert mounts[secret_root]["readOnly"] and f"ape/accounts/{alias}.json" in paths
    assert f"{secret_root}/ape" == env["APE_DATA_FOLDER"]["value"]  # keystore at $APE_DATA_FOLDER/accounts/
    assert f"{secret_root}/passphrase" == data["key"]["passphrase_file"]


# ---- PrometheusRule generated from alerts.yml

def _generator(kube: Any) -> Any:
    spec = importlib.util.spec_from_file_location("gen_prometheusrule", kube.KUBE_DIR / "gen_prometheusrule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_committed_prometheusrule_is_what_the_generator_writes(kube: Any) -> None:
    gen = _generator(kube)
    assert (kube.KUBE_DIR / "prometheusrule.yaml").read_text() == gen.render(), \
        "stale: run python deploy/kubernetes/gen_prometheusrule.py"
    assert gen.main(["--check"]) == 0


def test_prometheusrule_groups_equal_alerts_yml(kube: Any) -> None:
    alerts = yaml.safe_load((kube.REPO / "oracle" / "monitoring" / "alerts.yml").read_text())
    rule = yaml.safe_load((kube.KUBE_DIR / "prometheusrule.yaml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "EcoAISamplerStalled" in names and len(names) == len(set(names))


def test_generator_check_fails_on_a_stale_file(kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator(kube)
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text(gen.render().replace("for: 2m", "for: 3m"))
    monkeypatch.setattr(gen, "OUT", stale)
    assert gen.main(["--check"]) == 1
