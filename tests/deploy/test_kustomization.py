"""The kustomization renders like `kubectl apply -k deploy/kubernetes` would, and its parts fit together."""

from __future__ import annotations

from collections import Counter
from typing import Any


def test_every_manifest_in_the_folder_is_listed_and_every_listed_file_exists(kube: Any) -> None:
    listed = kube.load_kustomization()["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    on_disk = {p.name for p in kube.KUBE_DIR.glob("*.yaml")} | {p.name for p in kube.KUBE_DIR.glob("*.yml")}
    on_disk.discard("kustomization.yaml")
    assert set(listed) == on_disk, f"unlisted: {on_disk - set(listed)}; missing: {set(listed) - on_disk}"


def test_render_has_unique_names_one_namespace_and_common_labels(rendered: list[dict[str, Any]]) -> None:
    keys = Counter((d["kind"], d["metadata"]["name"]) for d in rendered)
    assert all(n == 1 for n in keys.values()), keys
    namespaces = {d["metadata"]["namespace"] for d in rendered if d["kind"] != "Namespace"}
    assert namespaces == {"ecoai"}
    assert ("Namespace", "ecoai") in keys
    for d in rendered:
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "ecoai"
        assert labels.get("app.kubernetes.io/name", "").startswith("ecoai"), d["metadata"]["name"]


def test_every_image_is_set_by_the_kustomization_or_pinned(rendered: list[dict[str, Any]], kube: Any) -> None:
    for d in rendered:
        for c in kube.all_containers(d):
            name, sep, tag = c["image"].rpartition(":")
            assert sep and tag and tag != "latest", f"{d['metadata']['name']}/{c['name']}: unpinned {c['image']}"


def test_workload_selectors_match_their_pod_templates(rendered: list[dict[str, Any]], kube: Any) -> None:
    for d in rendered:
        if d["kind"] not in kube.WORKLOAD_KINDS:
            continue
        selector = d["spec"]["selector"]["matchLabels"]
        template_labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items(), d["metadata"]["name"]
        assert template_labels["app.kubernetes.io/name"] == d["metadata"]["labels"]["app.kubernetes.io/name"]


def _pods(rendered: list[dict[str, Any]], kube: Any) -> list[tuple[dict[str, str], dict[str, Any]]]:
    return [(d["spec"]["template"]["metadata"]["labels"], kube.pod_spec(d)) for d in rendered
            if d["kind"] in kube.WORKLOAD_KINDS]


def _container_ports(spec: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}


def test_every_service_selects_pods_that_exist_on_ports_they_declare(rendered: list[dict[str, Any]],
                                                                    kube: Any) -> None:
    pods = _pods(rendered, kube)
    services = [d for d in rendered if d["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} >= {"ecoai-oracle", "ecoai-web", "ecoai-indexer",
                                                          "ecoai-postgres"}
    for svc in services:
        selector = svc["spec"]["selector"]
        matching = [spec for labels, spec in pods if selector.items() <= labels.items()]
        assert len(matching) == 1, f"Service {svc['metadata']['name']} selects {len(matching)} workloads"
        ports = _container_ports(matching[0])
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports or target in ports.values(), f"{svc['metadata']['name']}: no port {target}"


def test_probes_target_ports_the_container_declares(rendered: list[dict[str, Any]], kube: Any) -> None:
    probed = 0
    for d in rendered:
        spec = kube.pod_spec(d)
        if spec is None:
            continue
        for c in spec["containers"]:
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            assert c.get("livenessProbe") and c.get("readinessProbe"), f"{d['metadata']['name']}/{c['name']}"
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                probed += 1
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler in probe:
                        port = probe[handler]["port"]
                        assert port in ports or port in ports.values(), f"{d['metadata']['name']} {kind}: {port}"
    assert probed >= 8


def test_referenced_configmaps_and_secrets_exist_or_are_documented(rendered: list[dict[str, Any]],
                                                                   kube: Any) -> None:
    present = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    docs = (kube.REPO / "docs" / "kubernetes.md").read_text()
    refs: set[tuple[str, str]] = set()
    for d in rendered:
        spec = kube.pod_spec(d)
        if spec is None:
            continue
        for v in spec.get("volumes", []):
            if "configMap" in v:
                refs.add(("ConfigMap", v["configMap"]["name"]))
            if "secret" in v:
                refs.add(("Secret", v["secret"]["secretName"]))
        for c in kube.all_containers(d):
            for e in c.get("env", []):
                src = e.get("valueFrom", {})
                if "configMapKeyRef" in src:
                    refs.add(("ConfigMap", src["configMapKeyRef"]["name"]))
                if "secretKeyRef" in src:
                    refs.add(("Secret", src["secretKeyRef"]["name"]))
    missing = refs - present
    assert missing <= kube.OUT_OF_BAND, f"referenced but neither rendered nor created out of band: {missing}"
    for kind, name in missing:
        assert name in docs, f"docs/kubernetes.md must say how to create {kind} {name}"
    assert not any(k == "Secret" for k, _ in present), "Secrets are created with kubectl, never committed"


def test_servicemonitor_scrapes_the_oracle_metrics_port(by_kind_name: dict, kube: Any) -> None:
    sm = by_kind_name[("ServiceMonitor", "ecoai-oracle")]
    svc = by_kind_name[("Service", sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"])]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    svc_ports = {p["name"] for p in svc["spec"]["ports"]}
    for endpoint in sm["spec"]["endpoints"]:
        assert endpoint["port"] in svc_ports
        assert endpoint["path"] == "/metrics"
    assert svc["spec"]["clusterIP"] == "None", "headless: every oracle pod is its own target"
    ds = by_kind_name[("DaemonSet", "ecoai-oracle")]
    assert _container_ports(kube.pod_spec(ds))["metrics"] == 9464
