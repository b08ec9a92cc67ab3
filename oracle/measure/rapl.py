"""CPU package and DRAM energy from Linux powercap RAPL (/sys/class/powercap/intel-rapl:*; AMD Zen too).

Package zones (intel-rapl:N) and their DRAM subzones are read; core/uncore subzones are skipped because the
package counter already contains them. The counter wraps at max_energy_range_uj.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable, counter_delta

POWERCAP = Path("/sys/class/powercap")
METHOD = "energy_counter"
# No CPU package or DRAM draws this much: a larger increase means the counter was reset.
MAX_PLAUSIBLE_W = 2000.0


@dataclass
class _Zone:
    device: str
    energy_path: Path
    modulus: int
    last_uj: int | None = None
    last_t: float | None = None


class RaplSource:
    name = "rapl"
    # A counter: boundary reads suffice while an interval is shorter than the wrap period (~20 min at 200 W).
    cumulative = True

    def __init__(self, root: Path = POWERCAP) -> None:
        self._zones: list[_Zone] = []
        problems: list[str] = []
        for zone_dir in sorted(root.glob("intel-rapl:*")):
            try:
                zone_name = (zone_dir / "name").read_text().strip()
                if zone_dir.name.count(":") == 2 and zone_name != "dram":
                    continue
                modulus = int((zone_dir / "max_energy_range_uj").read_text()) + 1
                int((zone_dir / "energy_uj").read_text())
            except (OSError, ValueError) as exc:
                problems.append(f"{zone_dir.name}: {exc}")
                continue
            self._zones.append(_Zone(f"rapl:{zone_dir.name}:{zone_name}", zone_dir / "energy_uj", modulus))
        if not self._zones:
            why = "; ".join(problems) if problems else f"no intel-rapl zones under {root}"
            raise SourceUnavailable(f"RAPL not readable ({why})")

    def devices(self) -> list[str]:
        return [z.device for z in self._zones]

    def sample(self, now: float) -> list[Item]:
        out: list[Item] = []
        for z in self._zones:
            try:
                value = int(z.energy_path.read_text())
            except (OSError, ValueError) as exc:
                if z.last_t is not None and now > z.last_t:
                    out.append(Gap(z.last_t, now, z.device, self.name, f"RAPL not readable: {exc}"))
                z.last_uj, z.last_t = None, now
                continue
            last_uj, last_t = z.last_uj, z.last_t
            z.last_uj, z.last_t = value, now
            if last_uj is None or last_t is None or now <= last_t:
                if last_uj is None and last_t is not None and now > last_t:
                    out.append(Gap(last_t, now, z.device, self.name, "RAPL readable again; counter re-primed"))
                continue
            delta = counter_delta(last_uj, value, z.modulus, MAX_PLAUSIBLE_W * (now - last_t + 0.1) * 1e6)
            if delta is None:
                out.append(Gap(last_t, now, z.device, self.name, f"RAPL counter reset ({last_uj} -> {value} uJ)"))
                continue
            out.append(Reading(last_t, now, z.device, self.name, METHOD, "measured", delta / 1000.0))
        return out

    def close(self) -> None:
        pass
