"""Shared loading of deploy/kubernetes: the kustomization rendered the way `kubectl apply -k` would (offline)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBE_DIR = REPO / "deploy" / "kubernetes"

# Objects the manifests reference but that the operator creates out of band (docs/kubernetes.md "Before you
# apply"): Secrets never live in the repository; the deployment file is specific to a chain.
OUT_OF_BAND = {("Secret", "ecoai-node-key"), ("Secret", "ecoai-postgres"), ("Secret", "ecoai-database"),
               ("ConfigMap", "ecoai-deployment")}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


def load_kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text())


def load_file(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def render() -> list[dict[str, Any]]:
    """What `kustomize build` produces for this folder: each resource file's documents, then the namespace, the
    `labels` (metadata only: includeSelectors false) and the `images` transformers. Only the features the
    kustomization uses are implemented; any other top-level key fails the test instead of being ignored."""
    k = load_kustomization()
    supported = {"apiVersion", "kind", "namespace", "labels", "images", "resources"}
    unknown = set(k) - supported
    assert not unknown, f"kustomization.yaml uses {unknown}: teach tests/deploy/conftest.py:render() about it"
    out: list[dict[str, Any]] = []
    for name in k["resources"]:
        for doc in load_file(KUBE_DIR / name):
            doc = copy.deepcopy(doc)
            doc["_file"] = name
            out.append(doc)
    images = {i["name"]: i for i in k.get("images", [])}
    for doc in out:
        meta = doc.setdefault("metadata", {})
        if doc["kind"] == "Namespace":
            meta["name"] = k["namespace"]
        else:
            meta["namespace"] = k["namespace"]
        for entry in k.get("labels", []):
            assert entry.get("includeSelectors", False) is False
            meta.setdefault("labels", {}).update(entry["pairs"])
        for container in all_containers(doc):
            name, _, tag = container["image"].partition(":")
            if name in images:
                new = images[name]
                container["image"] = f"{new.get('newName', name)}:{new.get('newTag', tag or 'latest')}"
    return out


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in WORKLOAD_KINDS:
        return doc["spec"]["template"]["spec"]
    return None


def all_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


@pytest.fixture(scope="session")
def rendered() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def by_kind_name(rendered: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in rendered}


@pytest.fixture(scope="session")
def kube() -> Any:
    """The helpers above, for test modules (pytest's importlib mode does not let them import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(REPO=REPO, KUBE_DIR=KUBE_DIR, OUT_OF_BAND=OUT_OF_BAND, WORKLOAD_KINDS=WORKLOAD_KINDS,
                           load_kustomization=load_kustomization, load_file=load_file, render=render,
                           pod_spec=pod_spec, all_containers=all_containers, strip=strip)
