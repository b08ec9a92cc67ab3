"""PNG of power and cumulative energy over time, one line per device, labelled with how it was obtained."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from oracle.measure.reading import Reading


def plot_power_energy(readings: Sequence[Reading], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, (ax_p, ax_e) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), constrained_layout=True)
    by_device: dict[str, list[Reading]] = {}
    for r in readings:
        by_device.setdefault(r.device, []).append(r)
    t_origin = min((r.t_start for r in readings), default=0.0)
    for device, rows in sorted(by_device.items()):
        rows.sort(key=lambda r: r.t_start)
        kinds = "/".join(sorted({r.kind for r in rows}))
        label = f"{device} ({kinds}, {', '.join(sorted({r.label for r in rows}))})"
        ts = [r.t_end - t_origin for r in rows]
        ax_p.step(ts, [r.power_w for r in rows], where="pre", label=label, linewidth=1)
        total, cumulative = 0.0, []
        for r in rows:
            total += r.energy_mj / 1000.0
            cumulative.append(total)
        ax_e.plot(ts, cumulative, label=label, linewidth=1.5)
    ax_p.set_ylabel("power (W)")
    ax_e.set_ylabel("cumulative energy (J)")
    ax_e.set_xlabel("time (s)")
    ax_p.set_title("EcoAI energy readings")
    if by_device:
        ax_p.legend(fontsize=7, loc="upper left")
    for ax in (ax_p, ax_e):
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
