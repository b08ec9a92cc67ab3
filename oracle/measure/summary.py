"""Per-device totals of a measurement run (energy, mean power, methods, kinds) and its gaps, for printing."""

from __future__ import annotations

from typing import Any

from oracle.measure.reading import Gap, Item, Reading


def summarise(items: list[Item], t0: float, t1: float) -> dict[str, Any]:
    """Per-device totals with their labels; gaps listed as they were recorded."""
    devices: dict[str, dict[str, Any]] = {}
    for it in items:
        if isinstance(it, Reading):
            d = devices.setdefault(it.device, {"device": it.device, "energy_j": 0.0, "methods": set(),
                                               "kinds": set(), "seconds": 0.0})
            d["energy_j"] += it.energy_mj / 1000.0
            d["seconds"] += it.t_end - it.t_start
            d["methods"].add(it.label)
            d["kinds"].add(it.kind)
    out = []
    for d in devices.values():
        out.append({"device": d["device"], "energy_j": round(d["energy_j"], 3),
                    "mean_power_w": round(d["energy_j"] / d["seconds"], 3) if d["seconds"] else None,
                    "methods": sorted(d["methods"]), "kinds": sorted(d["kinds"]),
                    "covered_s": round(d["seconds"], 3)})
    gaps = [{"device": g.device, "source": g.source, "t_start": g.t_start, "t_end": g.t_end, "reason": g.reason}
            for g in items if isinstance(g, Gap)]
    return {"t_start": t0, "t_end": t1, "seconds": round(t1 - t0, 3),
            "energy_j": round(sum(d["energy_j"] for d in out), 3), "devices": out, "gaps": gaps}
