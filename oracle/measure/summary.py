"""Per-device totals of a measurement run (energy, mean power, methods, kinds) and its gaps, for printing.

Energy obtained in different ways is never added up: the run's totals are one per kind (measured, estimated,
replayed), a replayed trace recorded on another machine never counts towards what this machine measured.
"""

from __future__ import annotations

from typing import Any

from oracle.measure.reading import KINDS, Gap, Item, Reading


def summarise(items: list[Item], t0: float, t1: float) -> dict[str, Any]:
    """Per-device totals with their labels, totals per kind (`energy_j_by_kind`: every kind, 0 when absent);
    gaps listed as they were recorded."""
    devices: dict[str, dict[str, Any]] = {}
    by_kind = dict.fromkeys(KINDS, 0.0)
    for it in items:
        if isinstance(it, Reading):
            d = devices.setdefault(it.device, {"device": it.device, "energy_j": 0.0, "methods": set(),
                                               "kinds": set(), "seconds": 0.0})
            d["energy_j"] += it.energy_mj / 1000.0
            d["seconds"] += it.t_end - it.t_start
            d["methods"].add(it.label)
            d["kinds"].add(it.kind)
            by_kind[it.kind] += it.energy_mj / 1000.0
    out = []
    for d in devices.values():
        out.append({"device": d["device"], "energy_j": round(d["energy_j"], 3),
                    "mean_power_w": round(d["energy_j"] / d["seconds"], 3) if d["seconds"] else None,
                    "methods": sorted(d["methods"]), "kinds": sorted(d["kinds"]),
                    "covered_s": round(d["seconds"], 3)})
    gaps = [{"device": g.device, "source": g.source, "t_start": g.t_start, "t_end": g.t_end, "reason": g.reason}
            for g in items if isinstance(g, Gap)]
    return {"t_start": t0, "t_end": t1, "seconds": round(t1 - t0, 3),
            "energy_j_by_kind": {kind: round(joules, 3) for kind, joules in by_kind.items()},
            "devices": out, "gaps": gaps}


def headline(summary: dict[str, Any]) -> str:
    """The first line of `ecoai measure`: the run's length and one total per kind, never their sum, e.g.
    "10.0 s: measured 0.0 J · estimated 103.8 J · replayed 595.8 J"."""
    totals = " · ".join(f"{kind} {joules:.1f} J" for kind, joules in summary["energy_j_by_kind"].items())
    devices = len(summary["devices"])
    return f"{summary['seconds']:.1f} s on {devices} device{'' if devices == 1 else 's'}: {totals}"
