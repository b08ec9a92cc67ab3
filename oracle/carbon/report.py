"""Carbon report: energy × grid factor (location-based, with source and year) plus the Eco Score."""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.carbon.ecoscore import eco_score
from oracle.conventions import mj_to_kwh
from oracle.carbon.electricitymaps import LiveIntensity
from oracle.carbon.intensity import BASIS, Intensity, lookup, table_version, world
from oracle.measure.epoch import EpochEnergy
from oracle.measure.tdp import hardware_class

DEFAULT_HARDWARE_CLASS = "H200"

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


def carbon_report(energy_kwh: float, region: str, hours: float | None = None, quality: float = 1.0,
                  hardware: str = DEFAULT_HARDWARE_CLASS, live: LiveIntensity | None = None) -> dict[str, Any]:
    """The report dict (`ecoai report --json`). Raises ValueError / UnknownRegion on bad input.

    eco_score is None (with eco_score_note) when `hours` is not given: efficiency needs a duration.
    """
    if energy_kwh < 0:
        raise ValueError(f"energy must be >= 0 kWh (got {energy_kwh})")
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"quality retained must be between 0 and 1 (got {quality})")
    row = lookup(region)
    intensity, source = (live.g_per_kwh, live.describe()) if live else (row.g_per_kwh, row.describe())
    hw = hardware_class(hardware)
    if hw is None:
        raise ValueError(f"unknown hardware class {hardware!r}")
    report: dict[str, Any] = {
        "energy_kwh": energy_kwh,
        "carbon_kg": energy_kwh * intensity / 1000.0,
        "intensity_g_per_kwh": intensity,
        "region": row.code,
        "region_name": row.name,
        "source": source,
        "basis": BASIS,
        "year": None if live else row.year,
        "table_version": table_version(),
        "hours": hours,
        "hardware_class": hw.hardware_class,
        "quality": quality,
        "eco_score": None,
    }
    if hours is None:
        report["eco_score_note"] = "give --hours to compute the Eco Score (energy efficiency needs a duration)"
        return report
    score = eco_score(energy_kwh, hours, intensity, quality, hw.tdp_w, world().g_per_kwh)
    report["eco_score"] = round(score.score, 2)
    report["eco_score_inputs"] = {**score.to_dict(), "reference_power_source": hw.source,
                                  "reference_intensity_source": world().describe()}
    return report


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
