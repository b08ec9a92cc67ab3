"""Pods run unprivileged and non-root; the oracle reaches NVML through the NVIDIA runtime, keeps its key in
files and its state on the node; no key material is committed; the image definition is multi-stage and
non-root. (Nothing here needs a cluster or a container builder: neither exists on the test machine.)"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

# Containers that run as uid 0, and the only capabilities each may add. state-owner chowns the hostPath state folder
# (CHOWN/FOWNER); pod-resources-relay opens the kubelet's root-only pod-resources socket, with no capability at all.
ROOT_ALLOWED = {("ecoai-oracle", "state-owner"): {"CHOWN", "FOWNER"}, ("ecoai-oracle", "pod-resources-relay"): set()}


def _pod_specs(rendered: list[dict[str, Any]], kube: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], kube.pod_spec(d)) for d in rendered if kube.pod_spec(d) is not None]


def test_no_pod_is_privileged_or_shares_host_namespaces(rendered: list[dict[str, Any]], kube: Any) -> None:
    for name, spec in _pod_specs(rendered, kube):
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), f"{name}: {host}"
        assert spec.get("automountServiceAccountToken") is False, f"{name}: needs no API token"
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc.get("privileged") is not True and sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            if (name, c["name"]) in ROOT_ALLOWED:
                assert set(sc["capabilities"].get("add", [])) <= ROOT_ALLOWED[(name, c["name"])], (name, c["name"])
                continue
            assert "add" not in sc["capabilities"], (name, c["name"])
            run_as_non_root = sc.get("runAsNonRoot", spec["securityContext"].get("runAsNonRoot"))
            uid = sc.get("runAsUser", spec["securityContext"].get("runAsUser"))
            assert run_as_non_root is True and uid and uid > 0, (name, c["name"])


def test_every_container_has_requests_and_limits(rendered: list[dict[str, Any]], kube: Any) -> None:
    for name, spec in _pod_specs(rendered, kube):
        for c in spec.get("initContainers", []) + spec["containers"]:
            res = c["resources"]
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res[part]), (name, c["name"], part)


def test_oracle_runs_on_gpu_nodes_through_the_nvidia_runtime(by_kind_name: dict, kube: Any) -> None:
    spec = kube.pod_spec(by_kind_name[("DaemonSet", "ecoai-oracle")])
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    oracle = next(c for c in spec["containers"] if c["name"] == "oracle")
    env = {e["name"]: e for e in oracle["env"]}
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "utility"  # NVML only: no compute, no video
    # Measuring does not take a GPU away from the workloads.
    for part in ("requests", "limits"):
        assert "nvidia.com/gpu" not in oracle["resources"][part]
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_oracle_state_survives_restarts_on_the_node(by_kind_name: dict, kube: Any) -> None:
    spec = kube.pod_spec(by_kind_name[("DaemonSet", "ecoai-oracle")])
    oracle = next(c for c in spec["containers"] if c["name"] == "oracle")
    home = {e["name"]: e.get("value") for e in oracle["env"]}["ECOAI_HOME"]
    mount = next(m for m in oracle["volumeMounts"] if m["mountPath"] == home)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["hostPath"]["path"] == "/var/lib/ecoai" and not mount.get("readOnly")


def test_pod_resources_socket_reaches_the_oracle_only_through_the_unprivileged_relay(by_kind_name: dict,
                                                                                     kube: Any) -> None:
    spec = kube.pod_spec(by_kind_name[("DaemonSet", "ecoai-oracle")])
    containers = {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}
    oracle, relay = containers["oracle"], containers["pod-resources-relay"]
    # A native sidecar: starts before the oracle, keeps running, and has no startupProbe that could hold the
    # oracle back (a failing relay only turns the pod labels "unknown").
    assert relay in spec["initContainers"] and relay["restartPolicy"] == "Always" and "startupProbe" not in relay
    volumes = {v["name"]: v for v in spec["volumes"]}
    # The relay mounts the kubelet's socket folder read-only; the oracle never mounts it.
    host_mount = next(m for m in relay["volumeMounts"] if m["mountPath"] == "/var/lib/kubelet/pod-resources")
    assert host_mount["readOnly"] is True
    assert volumes[host_mount["name"]]["hostPath"]["path"] == "/var/lib/kubelet/pod-resources"
    assert not any(m["name"] == host_mount["name"] for m in oracle["volumeMounts"])
    # The relay forwards the kubelet socket to a socket in a pod-local emptyDir the oracle mounts read-only.
    cmd = relay["command"]
    assert cmd[:3] == ["python", "-m", "oracle.measure.podresources_relay"]
    assert cmd[cmd.index("--upstream") + 1] == "/var/lib/kubelet/pod-resources/kubelet.sock"
    listen = cmd[cmd.index("--listen") + 1]
    shared = next(m for m in relay["volumeMounts"] if listen.startswith(m["mountPath"] + "/"))
    assert "emptyDir" in volumes[shared["name"]]
    oracle_mount = next(m for m in oracle["volumeMounts"] if m["name"] == shared["name"])
    assert oracle_mount["readOnly"] is True and oracle_mount["mountPath"] == shared["mountPath"]
    # Root only to own the socket's uid: no capability, and its socket group is the oracle's group, mode 0660.
    sc = relay["securityContext"]
    assert sc["runAsUser"] == 0 and sc["capabilities"] == {"drop": ["ALL"]} and sc["privileged"] is False
    assert sc["runAsGroup"] == oracle["securityContext"]["runAsGroup"] == 10001
    assert cmd[cmd.index("--mode") + 1] == "660" and "ports" not in relay
    # The node's own config points at the relay's socket.
    cm = next(d for d in kube.load_file(kube.KUBE_DIR / "oracle-configmap.yaml") if d["kind"] == "ConfigMap")
    assert tomllib.loads(cm["data"]["oracle.toml"])["exporter"]["pod_resources_socket"] == listen


def test_node_key_and_passphrase_are_files_never_environment(by_kind_name: dict, kube: Any) -> None:
    spec = kube.pod_spec(by_kind_name[("DaemonSet", "ecoai-oracle")])
    for c in spec.get("initContainers", []) + spec["containers"]:
        for e in c.get("env", []):
            assert "secretKeyRef" not in e.get("valueFrom", {}), e["name"]
            assert not re.search(r"PASSPHRASE|PRIVATE|KEYSTORE", e["name"]), e["name"]
        assert "envFrom" not in c
    key_volume = next(v for v in spec["volumes"] if v["name"] == "node-key")
    assert key_volume["secret"]["secretName"] == "ecoai-node-key"
    assert key_volume["secret"]["defaultMode"] & 0o007 == 0, "not world-readable"


def test_web_indexer_and_database_shapes(by_kind_name: dict, kube: Any) -> None:
    web = by_kind_name[("Deployment", "ecoai-web")]
    assert web["spec"]["replicas"] >= 2
    assert by_kind_name[("PodDisruptionBudget", "ecoai-web")]["spec"]["minAvailable"] == 1
    indexer = by_kind_name[("Deployment", "ecoai-indexer")]
    assert indexer["spec"]["replicas"] == 1 and indexer["spec"]["strategy"]["type"] == "Recreate"
    assert kube.pod_spec(indexer)["containers"][0]["command"][:3] == ["ecoai", "web", "index"]
    pg = by_kind_name[("StatefulSet", "ecoai-postgres")]
    assert pg["spec"]["serviceName"] == "ecoai-postgres"
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    for name in ("ecoai-web", "ecoai-indexer"):
        env = {e["name"]: e for e in kube.pod_spec(by_kind_name[("Deployment", name)])["containers"][0]["env"]}
        assert env["ECOAI_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "ecoai-database"


# ---- no key material anywhere under deploy/

HEX_KEY = re.compile(r"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def test_no_file_under_deploy_holds_key_material(kube: Any) -> None:
    files = [p for p in (kube.REPO / "deploy").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert files
    for path in files:
        text = path.read_text()
        assert not HEX_KEY.search(text), f"{path}: looks like a private key or keystore ciphertext"
        assert '"ciphertext"' not in text and "BEGIN PRIVATE KEY" not in text, path


def test_example_secrets_hold_placeholders_only_and_are_not_applied(kube: Any) -> None:
    examples = kube.KUBE_DIR / "examples" / "secrets.example.yaml"
    assert examples.name not in kube.load_kustomization()["resources"]
    secrets = [d for d in kube.load_file(examples) if d["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets} == {n for k, n in kube.OUT_OF_BAND if k == "Secret"}
    for s in secrets:
        assert "data" not in s
        for key, value in s["stringData"].items():
            assert "PLACEHOLDER" in value, (s["metadata"]["name"], key)


# ---- the image definition (static checks: no builder runs here)

@pytest.fixture(scope="module")
def dockerfile(kube: Any) -> str:
    return (kube.REPO / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage_node20_then_python311_non_root(dockerfile: str) -> None:
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    assert len(froms) == 2
    assert froms[0][0].startswith("node:20") and froms[1][0].startswith("python:3.11-slim")
    assert re.search(r"npm ci\b", dockerfile)
    assert f"COPY --from={froms[0][1]} /app/node_modules/" in dockerfile
    assert re.search(r"pip\"? install .*-e \.", dockerfile), "editable install: oracle.paths finds circuits/ next to it"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0] == "10001", "same uid as the manifests' runAsUser"


def test_dockerfile_bakes_in_no_secret(dockerfile: str, kube: Any) -> None:
    for line in re.findall(r"^(?:ENV|ARG)\s+.*$", dockerfile, re.M):
        assert not re.search(r"PASSPHRASE|PRIVATE|SECRET|PASSWORD|TOKEN|KEY\b", line, re.I), line
    copied = re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", dockerfile, re.M)
    for sources in copied:
        for src in sources.split():
            assert src.rstrip("/") in {"pyproject.toml", "README.md", "LICENSE", "ape-config.yaml", "oracle", "web",
                                       "circuits", "contracts", "scripts", "package.json", "package-lock.json"}, src
    ignore = (kube.REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "node_modules", ".ecoai", "**/.ape"} <= set(ignore)
