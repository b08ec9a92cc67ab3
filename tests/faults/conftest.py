"""The fault campaign's short versions (issue 14). The campaigns live next to this file (campaign_*.py) and run
at full size from bench/faults.py; here each runs small enough for the suite and must hold."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def report():
    """Prints a campaign result (figures and what failed) so a failing run shows its evidence."""
    def _report(result) -> None:
        print(json.dumps(result.to_dict(), indent=1, default=str))
    return _report
