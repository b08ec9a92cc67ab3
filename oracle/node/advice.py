"""The optimizer's advice for this node's workload, shown in the start-up log (oracle.optimize)."""

from __future__ import annotations

from pathlib import Path

from oracle.errors import UsageError

# The optimizer ships the real H200 profile here (see oracle/optimize/data); a config may name another.
SHIPPED_PROFILE = Path(__file__).resolve().parent.parent / "optimize" / "data" / "h200_mlp_profile.csv"


def recommendation_line(profile: str = "", latency_slo_ms: float = 0.0) -> str | None:
    """One log line: the recommended configuration and its saving against the default, or None without a profile."""
    path = Path(profile) if profile else SHIPPED_PROFILE
    if not path.exists():
        if profile:
            raise UsageError(f"config field optimize.profile: {path} does not exist")
        return None
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
