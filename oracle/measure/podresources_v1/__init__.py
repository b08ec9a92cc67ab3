"""Vendored kubelet pod-resources API v1 (k8s.io/kubelet/pkg/apis/podresources/v1/api.proto, Apache-2.0) and the
Python modules generated from it: see PROVENANCE.md. Generated code: do not edit, regenerate."""
