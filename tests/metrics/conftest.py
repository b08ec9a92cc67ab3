"""Metrics tests: the labelled stand-ins of tests/measure (NVML library, kubelet pod-resources server) importable."""

from __future__ import annotations

import sys
from pathlib import Path

MEASURE_TESTS = Path(__file__).resolve().parents[1] / "measure"
if str(MEASURE_TESTS) not in sys.path:
    sys.path.insert(0, str(MEASURE_TESTS))
