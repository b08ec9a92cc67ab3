"""Every manifest validates offline against the Kubernetes OpenAPI schema (kubernetes-validate, strict) for the
two newest Kubernetes versions the package knows; the Prometheus Operator resources, which it does not know,
are checked against the structural part of their CRD schemas."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

kv = pytest.importorskip("kubernetes_validate", reason="dev dependency kubernetes-validate is not installed")
jsonschema = pytest.importorskip("jsonschema")
from kubernetes_validate import utils as kv_utils  # noqa: E402

CRD_GROUP = "monitoring.coreos.com/"


def _newest_versions(n: int = 2) -> list[str]:
    """The n newest distinct major.minor Kubernetes versions whose schemas ship with kubernetes-validate."""
    versions = sorted({".".join(v.split(".")[:2]) for v in kv_utils.all_versions()},
                      key=lambda v: tuple(int(x) for x in v.split(".")))
    return versions[-n:]


VERSIONS = _newest_versions()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must not fetch anything: any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_two_distinct_schema_versions_are_available() -> None:
    assert len(VERSIONS) == 2 and VERSIONS[0] != VERSIONS[1], VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_builtin_manifest_validates_strictly(version: str, kube: Any, no_network: None) -> None:
    checked = 0
    for doc in kube.render():
        if doc["apiVersion"].startswith(CRD_GROUP):
            continue
        try:
            kv.validate(kube.strip(doc), version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{doc['_file']} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message} "
                        f"at {'.'.join(str(p) for p in exc.path)}")
        checked += 1
    assert checked >= 12


def test_strict_validation_rejects_a_misspelt_field(kube: Any, no_network: None) -> None:
    """The validator really is strict: an unknown field is an error, not ignored."""
    ds = next(kube.strip(d) for d in kube.render() if d["kind"] == "DaemonSet")
    ds["spec"]["template"]["spec"]["nodeSelecter"] = {"x": "y"}
    with pytest.raises(kv.ValidationError):
        kv.validate(ds, VERSIONS[-1], strict=True)


# Structural subset of the Prometheus Operator CRD schemas (monitoring.coreos.com/v1): required fields, types,
# and the duration pattern, with unknown fields rejected where the CRD's structural schema would prune them.
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                           "namespace": {"type": "string"}, "labels": STRING_MAP, "annotations": STRING_MAP}}
RULE = {
    "type": "object", "required": ["expr"], "additionalProperties": False,
    "properties": {"alert": {"type": "string"}, "record": {"type": "string"},
                   "expr": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
                   "for": {"type": "string", "pattern": DURATION},
                   "keep_firing_for": {"type": "string", "pattern": DURATION},
                   "labels": STRING_MAP, "annotations": STRING_MAP},
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}
PROMETHEUS_RULE = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"},
        "metadata": METADATA,
        "spec": {"type": "object", "additionalProperties": False, "properties": {"groups": {
            "type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {"name": {"type": "string", "minLength": 1},
                               "interval": {"type": "string", "pattern": DURATION},
                               "limit": {"type": "integer"}, "partial_response_strategy": {"type": "string"},
                               "rules": {"type": "array", "items": RULE}}}}}},
    },
}
SELECTOR = {"type": "object", "additionalProperties": False,
            "properties": {"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}}}
RELABEL = {"type": "object", "additionalProperties": False,
           "properties": {"sourceLabels": {"type": "array", "items": {"type": "string",
                                                                      "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"}},
                          "separator": {"type": "string"}, "targetLabel": {"type": "string"},
                          "regex": {"type": "string"}, "modulus": {"type": "integer"},
                          "replacement": {"type": "string"},
                          "action": {"enum": ["replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod",
                                              "HashMod", "labelmap", "LabelMap", "labeldrop", "LabelDrop",
                                              "labelkeep", "LabelKeep", "lowercase", "Lowercase", "uppercase",
                                              "Uppercase", "keepequal", "KeepEqual", "dropequal", "DropEqual"]}}}
SERVICE_MONITOR = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
        "metadata": METADATA,
        "spec": {"type": "object", "required": ["selector", "endpoints"], "properties": {
            "selector": SELECTOR, "jobLabel": {"type": "string"},
            "namespaceSelector": {"type": "object", "properties": {"any": {"type": "boolean"},
                                                                   "matchNames": {"type": "array"}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "properties": {"port": {"type": "string"}, "targetPort": {"type": ["string", "integer"]},
                               "path": {"type": "string"}, "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                               "interval": {"type": "string", "pattern": DURATION},
                               "scrapeTimeout": {"type": "string", "pattern": DURATION},
                               "honorLabels": {"type": "boolean"}, "honorTimestamps": {"type": "boolean"},
                               "relabelings": {"type": "array", "items": RELABEL},
                               "metricRelabelings": {"type": "array", "items": RELABEL}}}}}},
    },
}
CRD_SCHEMAS = {"PrometheusRule": PROMETHEUS_RULE, "ServiceMonitor": SERVICE_MONITOR}


def test_prometheus_operator_resources_match_their_crd_structure(kube: Any) -> None:
    crds = [d for d in kube.render() if d["apiVersion"].startswith(CRD_GROUP)]
    assert {d["kind"] for d in crds} == {"PrometheusRule", "ServiceMonitor"}
    for doc in crds:
        jsonschema.validate(kube.strip(doc), CRD_SCHEMAS[doc["kind"]])


@pytest.mark.parametrize("broken", [
    lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr"),
    lambda d: d["spec"]["groups"][0]["rules"][0].__setitem__("for", "two minutes"),
    lambda d: d["spec"]["groups"][0].pop("name"),
])
def test_the_crd_check_catches_broken_rules(broken: Any, kube: Any) -> None:
    doc = next(kube.strip(d) for d in kube.render() if d["kind"] == "PrometheusRule")
    broken(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, PROMETHEUS_RULE)


def test_durations_in_alerts_use_the_operator_format(kube: Any) -> None:
    doc = next(d for d in kube.render() if d["kind"] == "PrometheusRule")
    for group in doc["spec"]["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                assert re.fullmatch(DURATION, rule["for"]), rule
