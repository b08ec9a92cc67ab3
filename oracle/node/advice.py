"""The optimizer's advice for this node's workload, shown in the start-up log (oracle.optimize)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from oracle.errors import UsageError

if TYPE_CHECKING:
    from oracle.node.config import NodeConfig

# Profiles the optimizer ships, measured per hardware class (`<class>_<workload>_profile.csv`).
SHIPPED_PROFILES = Path(__file__).resolve().parent.parent / "optimize" / "data"


def shipped_profile(hardware_class: str) -> Path | None:
    found = sorted(SHIPPED_PROFILES.glob(f"{hardware_class.lower()}_*profile.csv"))
    return found[0] if found else None


def recommendation_line(profile: str = "", latency_slo_ms: float = 0.0, hardware_class: str = "H200") -> str | None:
    """One log line: the recommended configuration and its saving against the default; None without a profile
    (none configured and none shipped for the hardware class)."""
    if profile:
        path = Path(profile)
        if not path.exists():
            raise UsageError(f"config field optimize.profile: {path} does not exist")
    else:
        shipped = shipped_profile(hardware_class)
        if shipped is None:
            return None
        path = shipped
    from oracle.optimize import Constraints, load_profile, recommend

    try:
        rec = recommend(load_profile(path), Constraints(latency_slo_ms or None, None))
    except UsageError as exc:
        raise UsageError(f"config field optimize.profile: {exc}") from None
    row, saving = rec.row, rec.saving
    slo = f" within a {latency_slo_ms:g} ms latency SLO" if latency_slo_ms else ""
    return (
        f"optimizer: for {row.workload} on {row.gpu}{slo}, run {row.label()} "
        f"({row.energy_j_per_item:.4g} J/item, {row.latency_ms:.3g} ms/batch): {saving.energy_pct:.1f} % less "
        f"energy per item than the default {rec.default.label()} (profile {path.name})"
    )


def log_recommendation(config: NodeConfig, log: logging.Logger) -> None:
    """Log the optimizer's recommendation for this node's workload at start-up (nothing without a profile)."""
    line = recommendation_line(config.optimize.profile, config.optimize.latency_slo_ms, config.node.hardware_class)
    if line:
        log.info("%s", line)
