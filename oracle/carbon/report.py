"""Carbon report: energy × grid factor (location-based, with source and year), and the Eco Score of the work done
with that energy (oracle.carbon.ecoscore: efficiency against the class baseline; no work, no score)."""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.carbon.ecoscore import efficiency_eco_score, epochs_eco_score
from oracle.carbon.electricitymaps import LiveIntensity
from oracle.carbon.intensity import BASIS, Intensity, lookup, table_version
from oracle.conventions import UJ_PER_KWH, UJ_PER_MJ, mj_to_kwh
from oracle.measure.epoch import EpochEnergy

# CodeCarbon's emissions.csv columns, in its order (codecarbon 3.3.2, output_methods/emissions_data.py).
EMISSIONS_CSV_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "water_consumed", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
    "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude",
    "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)
GPU_SOURCES = ("nvml", "replay")
CPU_SOURCES = ("rapl", "cpu")

NO_WORK_NOTE = "no work, no score: the Eco Score is energy per unit of useful work against the class baseline"


@dataclass(frozen=True)
class Baseline:
    """β of the Eco Score: an efficiency class's baseline (class_id and unit set) or one given explicitly."""

    uj_per_unit: float
    class_id: str | None = None
    unit: str | None = None


def carbon_report(energy_kwh: float, region: str, live: LiveIntensity | None = None) -> dict[str, Any]:
    """The carbon part of `ecoai report --json`: energy × the region's grid intensity (the table's, or `live`).

    Raises ValueError / UnknownRegion on bad input."""
    if energy_kwh < 0:
        raise ValueError(f"energy must be >= 0 kWh (got {energy_kwh})")
    row = lookup(region)
    intensity, source = (live.g_per_kwh, live.describe()) if live else (row.g_per_kwh, row.describe())
    return {
        "energy_kwh": energy_kwh,
        "carbon_kg": energy_kwh * intensity / 1000.0,
        "intensity_g_per_kwh": intensity,
        "region": row.code,
        "region_name": row.name,
        "source": source,
        "basis": BASIS,
        "year": None if live else row.year,
        "table_version": table_version(),
    }


def _score_fields(baseline: Baseline | None, efficiency: float | None, work: int | None,
                  unit: str | None) -> dict[str, Any]:
    return {"eco_score": None, "efficiency_uj_per_unit": efficiency,
            "baseline_uj_per_unit": baseline.uj_per_unit if baseline else None,
            "class_id": baseline.class_id if baseline else None, "work_units": work,
            "work_unit": unit if unit is not None else (baseline.unit if baseline else None)}


def energy_eco_score(energy_kwh: float, work_units: int | None, baseline: Baseline | None) -> dict[str, Any]:
    """The Eco Score fields of an energy figure and the work done with it: η = energy (µJ) / W against β.

    eco_score is None, with eco_score_note saying what is missing, without work (W absent or 0) or baseline."""
    if energy_kwh < 0 or (work_units is not None and work_units < 0):
        raise ValueError(f"energy and work must be >= 0 (got {energy_kwh} kWh, {work_units} units)")
    efficiency = UJ_PER_KWH * energy_kwh / work_units if work_units else None
    out = _score_fields(baseline, efficiency, work_units, None)
    if work_units is None:
        out["eco_score_note"] = ("give --work W (units of useful work done with this energy) and --class CLASS_ID "
                                 "or --baseline-uj-per-unit B for the Eco Score")
    elif work_units == 0:
        out["eco_score_note"] = NO_WORK_NOTE
    elif baseline is None:
        out["eco_score_note"] = "give --class CLASS_ID or --baseline-uj-per-unit B for the Eco Score"
    else:
        assert efficiency is not None
        out["eco_score"] = efficiency_eco_score(efficiency, baseline.uj_per_unit)
    return out


def epochs_score_report(epochs: Sequence[EpochEnergy], baseline: Baseline | None) -> dict[str, Any]:
    """The Eco Score fields of recorded epochs: η_i = 1000 · energy_mJ / W_i per epoch, work-weighted against β
    (`epochs_eco_score`), one entry per epoch in `per_epoch`.

    Epochs without work get no score and are listed in `no_work_epochs` (their energy is in the carbon, not in
    the score); epochs whose work has gaps (its count is a lower bound, so their η an upper bound) in
    `work_gap_epochs`. Raises ValueError when the epochs' work is in several units or not in the class's unit."""
    worked = [e for e in epochs if e.work_total > 0]
    units = sorted({e.work_unit or "?" for e in worked})
    if len(units) > 1:
        raise ValueError(f"the epochs count work in different units ({', '.join(units)}): report each unit's "
                         "epochs separately")
    unit = units[0] if units else None
    if baseline is not None and baseline.unit is not None and unit is not None and unit != baseline.unit:
        raise ValueError(f"the epochs count work in {unit!r} but efficiency class {baseline.class_id!r} is per "
                         f"{baseline.unit!r}: name the class of this work (--class)")
    work = sum(e.work_total for e in worked)
    efficiency = UJ_PER_MJ * sum(e.total_mj for e in worked) / work if work else None
    out = _score_fields(baseline, efficiency, work, unit)
    per_epoch = []
    for e in epochs:
        eta = UJ_PER_MJ * e.total_mj / e.work_total if e.work_total > 0 else None
        score = efficiency_eco_score(eta, baseline.uj_per_unit) if eta is not None and baseline else None
        per_epoch.append({"epoch": e.epoch, "energy_mj": e.total_mj, "work_units": e.work_total,
                          "efficiency_uj_per_unit": eta, "eco_score": score})
    out["per_epoch"] = per_epoch
    out["no_work_epochs"] = [e.epoch for e in epochs if e.work_total <= 0]
    out["work_gap_epochs"] = [e.epoch for e in epochs if e.work_gaps]
    if not worked:
        out["eco_score_note"] = f"{NO_WORK_NOTE}; the selected epochs recorded none"
    elif baseline is None:
        out["eco_score_note"] = ("give --class CLASS_ID (or --config FILE with node.class_id) or "
                                 "--baseline-uj-per-unit B for the Eco Score")
    else:
        out["eco_score"] = epochs_eco_score((p["efficiency_uj_per_unit"], p["work_units"], baseline.uj_per_unit)
                                            for p in per_epoch if p["efficiency_uj_per_unit"] is not None)
    return out


def _split(epoch: EpochEnergy) -> tuple[float, float]:
    """(gpu mJ, cpu mJ) of an epoch from its method labels."""
    gpu = sum(v for k, v in epoch.by_method.items() if k.split("/")[0] in GPU_SOURCES)
    cpu = sum(v for k, v in epoch.by_method.items() if k.split("/")[0] in CPU_SOURCES)
    return gpu, cpu


def emissions_rows(epochs: Sequence[EpochEnergy], row: Intensity, intensity_g_per_kwh: float) -> list[dict]:
    """One CodeCarbon-schema row per epoch. Unmeasured quantities (RAM, water, location) stay empty."""
    cloud = row.kind in ("aws", "gcp", "azure")
    out = []
    for e in epochs:
        duration = e.t1 - e.t0
        gpu_mj, cpu_mj = _split(e)
        total_kwh = mj_to_kwh(e.total_mj)
        emissions_kg = total_kwh * intensity_g_per_kwh / 1000.0
        gpus = [d for d in e.devices if d.startswith(("gpu", "replay:"))]
        kinds = "+".join(sorted(e.by_kind))
        out.append({
            "timestamp": dt.datetime.fromtimestamp(e.t1, dt.timezone.utc).isoformat(timespec="seconds"),
            "project_name": "ecoai",
            "run_id": f"epoch-{e.epoch}",
            "experiment_id": f"ecoai-epochs ({kinds or 'no readings'}{'' if e.complete else ', with gaps'})",
            "duration": duration,
            "emissions": emissions_kg,
            "emissions_rate": emissions_kg / duration,
            "cpu_power": cpu_mj / 1000.0 / duration,
            "gpu_power": gpu_mj / 1000.0 / duration,
            "ram_power": "",
            "cpu_energy": mj_to_kwh(cpu_mj),
            "gpu_energy": mj_to_kwh(gpu_mj),
            "ram_energy": "",
            "energy_consumed": total_kwh,
            "water_consumed": "",
            "country_name": row.name if row.kind == "country" else "",
            "country_iso_code": row.iso3,
            "region": "",
            "cloud_provider": row.kind if cloud else "",
            "cloud_region": row.code.split(":", 1)[1] if cloud else "",
            "os": platform.platform(),
            "python_version": platform.python_version(),
            "codecarbon_version": "",
            "cpu_count": os.cpu_count(),
            "cpu_model": next((d.split(":", 1)[1] for d in e.devices if d.startswith("cpu:")), ""),
            "gpu_count": len(gpus),
            "gpu_model": ", ".join(gpus),
            "longitude": "",
            "latitude": "",
            "ram_total_size": "",
            "tracking_mode": "machine",
            "cpu_utilization_percent": "",
            "gpu_utilization_percent": "",
            "ram_utilization_percent": "",
            "ram_used_gb": "",
            "on_cloud": "Y" if cloud else "N",
            "pue": 1.0,
            "wue": 0.0,
        })
    return out


def write_emissions_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EMISSIONS_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
