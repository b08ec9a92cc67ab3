"""Derive each efficiency class's baseline β and tiers (µJ per unit of work) from the committed data.

    python scripts/derive_baselines.py            # prints every class with its provenance (TOML to paste)
    python scripts/derive_baselines.py --check    # exit 1 unless oracle/chain/default_params.toml agrees

The rule (docs/baselines.md): collect the class's efficiency samples (µJ per unit) —
  * a per-configuration profile (oracle/optimize/data): one sample per measured configuration,
    energy_j_per_item × 10^6;
  * a served trace (oracle/measure/data): one sample per epoch-length window with work > 0,
    1000 × energy_mJ / items (energy from the NVML counter, items from items_served_total, read the way the
    replay reads them: energy pro rata in time, the work counter at its last sample);
then β = the 90th percentile, rounded down (9 in 10 samples do at least this well; the credited saving is
never rounded up), and the tiers = the 75th, 50th, 25th and 10th percentiles, rounded up (ascending; duplicates
dropped); percentiles by linear interpolation between order statistics (numpy's default, "type 7").
max_units_per_second = ceil(measured peak throughput × MARGIN) (peak: the profile's highest items_per_s, the
trace's highest work rate over any epoch-length window). min_work_per_epoch = 1, the contract's floor.

A class with only published figures (no samples of ours) takes its numbers from the cited source, as stated in
PUBLISHED below. Pure standard library; deterministic.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
H200_MLP_PROFILE = REPO / "oracle/optimize/data/h200_mlp8x4096_profile.csv"
H200_TRACE = REPO / "oracle/measure/data/h200_inference_trace.csv"
DEMO_EPOCH_S = 5  # the local demo's epoch length (default_params.toml epoch_length_s)
BASELINE_PERCENTILE = 90
TIER_PERCENTILES = (10, 25, 50, 75)  # ascending thresholds: p10 is the hardest tier
MARGIN = 2  # max_units_per_second = ceil(measured peak throughput × MARGIN)
MIN_WORK_PER_EPOCH = 1  # the contract's floor (W = 0 never earns); a DAO may raise it


@dataclass(frozen=True)
class DerivedClass:
    class_id: str
    hardware_class: str
    workload: str
    unit: str
    quality_floor: str
    baseline_uj_per_unit: int
    tiers_uj_per_unit: tuple[int, ...]
    min_work_per_epoch: int
    max_units_per_second: int
    require_measured: bool
    provenance: list[str] = field(default_factory=list, compare=False)


def percentile(samples: list[float], p: int) -> Fraction:
    """Linear interpolation between order statistics (type 7, numpy's default), exact on the float samples."""
    xs = sorted(Fraction(x) for x in samples)
    h = Fraction(p, 100) * (len(xs) - 1)
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def baseline_and_tiers(samples: list[float]) -> tuple[int, tuple[int, ...]]:
    beta = math.floor(percentile(samples, BASELINE_PERCENTILE))
    tiers = sorted({math.ceil(percentile(samples, p)) for p in TIER_PERCENTILES})
    tiers = [t for t in tiers if t < beta]
    if not tiers:
        raise ValueError("no tier below the baseline: the samples do not spread")
    return beta, tuple(tiers)


def h200_item_class(workload: str, quality_floor: str, samples: list[float], lines: list[str], peak: float,
                    peak_text: str, require_measured: bool) -> DerivedClass:
    """The class H200/<workload>/item from its µJ-per-item samples: β and tiers by the percentile rule,
    max_units_per_second = the peak work rate × MARGIN; `lines` (where the samples come from) gain the rule and
    `peak_text` (what the peak is)."""
    beta, tiers = baseline_and_tiers(samples)
    cap = math.ceil(peak * MARGIN)
    provenance = [*lines, *_rule_lines(samples, beta, tiers), f"{peak_text} × {MARGIN} → max_units_per_second {cap}"]
    return DerivedClass(f"H200/{workload}/item", "H200", workload, "item", quality_floor, beta, tiers,
                        MIN_WORK_PER_EPOCH, cap, require_measured, provenance)


# --- per-configuration profile ------------------------------------------------------------------------------
def profile_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def mlp_class(path: Path = H200_MLP_PROFILE) -> DerivedClass:
    rows = profile_rows(path)
    samples = [float(r["energy_j_per_item"]) * 1e6 for r in rows]
    peak = max(float(r["items_per_s"]) for r in rows)
    peak_row = max(rows, key=lambda r: float(r["items_per_s"]))
    lines = [f"source: {path.relative_to(REPO)} (NVML total-energy counter, H200, 3-s windows; PROVENANCE.md)",
             f"samples: {len(rows)} configurations (precision × batch), µJ/item:"]
    lines += [f"  {r['precision']:>4} batch {r['batch']:>3}: {float(r['energy_j_per_item']) * 1e6:12.2f}"
              for r in sorted(rows, key=lambda r: -float(r["energy_j_per_item"]))]
    return h200_item_class(
        "mlp8x4096",
        "8 x (Linear 4096->4096 + GELU) inference, the same weights at fp32, bf16 or fp16; one item = one input "
        "row; no smaller or pruned model, no int8 (quality not measured: random weights)",
        samples, lines, peak,
        f"peak throughput {peak:,.1f} items/s ({peak_row['precision']} batch {peak_row['batch']})",
        require_measured=True)


# --- served trace ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trace:
    t: list[float]  # seconds from the first sample
    energy_mj: list[int]  # NVML counter, from the first sample
    items: list[int]  # items_served_total, from the first sample

    @property
    def lap_s(self) -> float:
        return self.t[-1]

    def energy_at(self, x: float) -> float:
        """Counter at position x, pro rata between samples (as oracle.measure.replay reads it)."""
        i = min(bisect.bisect_right(self.t, x) - 1, len(self.t) - 2)
        f = (x - self.t[i]) / (self.t[i + 1] - self.t[i])
        return self.energy_mj[i] + (self.energy_mj[i + 1] - self.energy_mj[i]) * f

    def items_at(self, x: float) -> int:
        """Counter at its last sample at or before x (as oracle.measure.work.ReplayWorkSource reads it)."""
        return self.items[max(bisect.bisect_right(self.t, x + 1e-9) - 1, 0)]

    def windows(self, length_s: float, phase_s: float = 0.0) -> list[tuple[float, float, int]]:
        """(start, energy mJ, items) of every whole window [phase + k·L, phase + (k+1)·L) inside one lap."""
        out = []
        k = 0
        while phase_s + (k + 1) * length_s <= self.lap_s:
            a, b = phase_s + k * length_s, phase_s + (k + 1) * length_s
            out.append((a, self.energy_at(b) - self.energy_at(a), self.items_at(b) - self.items_at(a)))
            k += 1
        return out


def load_trace(path: Path = H200_TRACE) -> Trace:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    t0, e0, w0 = float(rows[0]["unix_time_s"]), int(rows[0]["energy_counter_mj"]), int(rows[0]["items_served_total"])
    return Trace([float(r["unix_time_s"]) - t0 for r in rows], [int(r["energy_counter_mj"]) - e0 for r in rows],
                 [int(r["items_served_total"]) - w0 for r in rows])


def efficiency_uj(energy_mj: float, items: int) -> float:
    return 1000.0 * energy_mj / items


def peak_rate(trace: Trace, length_s: float, step_s: float = 0.1) -> float:
    """Highest work rate (items/s) over any window of `length_s` starting on a `step_s` grid."""
    best, x = 0.0, 0.0
    while x + length_s <= trace.lap_s:
        best = max(best, (trace.items_at(x + length_s) - trace.items_at(x)) / length_s)
        x += step_s
    return best


def encoder_class(path: Path = H200_TRACE, epoch_s: int = DEMO_EPOCH_S) -> DerivedClass:
    trace = load_trace(path)
    windows = trace.windows(epoch_s)
    serving = [(a, e, w) for a, e, w in windows if w > 0]
    samples = [efficiency_uj(e, w) for _, e, w in serving]
    peak = peak_rate(trace, epoch_s)
    lines = [f"source: {path.relative_to(REPO)} (150-s NVML trace, H200, bf16 encoder serving bursty load; "
             "PROVENANCE.md)",
             f"whole lap: {trace.energy_mj[-1]:,} mJ for {trace.items[-1]:,} items = "
             f"{efficiency_uj(trace.energy_mj[-1], trace.items[-1]):,.0f} µJ/item",
             f"samples: {len(serving)} serving windows of {epoch_s} s (of {len(windows)}; from trace start), µJ/item:"]
    lines += [f"  {a:5.1f}-{a + epoch_s:5.1f} s: {e:9,.0f} mJ {w:6,d} items → {efficiency_uj(e, w):12,.0f}"
              for a, e, w in serving]
    return h200_item_class(
        "encoder-bf16",
        "the recorded bf16 transformer encoder (6 layers, d=1024, seq 128); one item = one served request item; "
        "replayed demo class (local chains only)",
        samples, lines, peak, f"peak work rate over any {epoch_s}-s window {peak:,.1f} items/s", require_measured=False)


def tier_met(efficiency: float, tiers: tuple[int, ...]) -> int | None:
    """Index of the lowest tier τ with efficiency ≤ τ (what the node proves), None when over every tier."""
    return next((i for i, tau in enumerate(tiers) if efficiency <= tau), None)


def _rule_lines(samples: list[float], beta: int, tiers: tuple[int, ...]) -> list[str]:
    pct = ", ".join(f"p{p} {float(percentile(samples, p)):,.2f}" for p in (*TIER_PERCENTILES, BASELINE_PERCENTILE))
    return [f"percentiles: {pct}",
            f"β = floor(p{BASELINE_PERCENTILE}) = {beta:,} µJ/unit; tiers = ceil(p10, p25, p50, p75) = "
            f"{', '.join(f'{t:,}' for t in tiers)}"]


# --- published figures (no samples of ours) -----------------------------------------------------------------
ML_ENERGY_LONGITUDINAL = ("https://ml.energy/blog/measurement/energy/llm-inference-energy-a-longitudinal-analysis"
                          " (ML.ENERGY, 'LLM Inference Energy: A Longitudinal Analysis')")
MLPERF_V51_REDHAT = ("MLPerf Inference v5.1, Red Hat submission: Llama-3.1-8B (FP8, vLLM 0.10.0) on one H100, "
                     "5,777 tokens/s Offline (Red Hat blog 'Efficient and reproducible LLM inference: Red Hat "
                     "MLPerf Inference v5.1 results')")


def llm_class() -> DerivedClass:
    v2_j_per_token = Fraction(20, 100)  # ML.ENERGY Leaderboard v2.0 (vLLM 0.5.4), Llama-3.1-8B, H100, batch 64
    v3_j_per_token = Fraction(12, 100)  # ML.ENERGY Leaderboard v3.0 (vLLM 0.11.1), same model, GPU and batch
    peak_tokens_per_s = 5777
    beta = math.floor(v2_j_per_token * 10**6)
    tiers = (math.ceil(v3_j_per_token * 10**6),)
    lines = [f"source: {ML_ENERGY_LONGITUDINAL}: Llama-3.1-8B on H100 at batch 64, 0.20 J per output token with "
             "Leaderboard v2.0's stack (vLLM 0.5.4) and 0.12 J with v3.0's (vLLM 0.11.1)",
             f"β = the v2.0 figure {beta:,} µJ/token (the older stack: the reference practice); one tier = the "
             f"v3.0 figure {tiers[0]:,} µJ/token (two published figures, no percentiles)",
             f"peak throughput: {MLPERF_V51_REDHAT} × {MARGIN} → max_units_per_second "
             f"{peak_tokens_per_s * MARGIN}",
             "gap: no published per-token energy of Llama-3.1-8B on H200 was found, so there is no H200 LLM class"]
    return DerivedClass(
        "H100/llm-8b/token", "H100", "llm-8b", "token",
        "Llama-3.1-8B-Instruct (8B parameters), one output token, bf16 weights or a quantization meeting MLPerf's "
        "99 % accuracy target; no smaller or distilled model",
        beta, tiers, MIN_WORK_PER_EPOCH, peak_tokens_per_s * MARGIN, True, lines)


def derive_all() -> list[DerivedClass]:
    return [encoder_class(), mlp_class(), llm_class()]


def toml_block(c: DerivedClass) -> str:
    tiers = ", ".join(str(t) for t in c.tiers_uj_per_unit)
    return "\n".join([
        f'[classes."{c.class_id}"]',
        f'hardware_class = "{c.hardware_class}"',
        f'workload = "{c.workload}"',
        f'unit = "{c.unit}"',
        f'quality_floor = "{c.quality_floor}"',
        f"baseline_uj_per_unit = {c.baseline_uj_per_unit}",
        f"tiers_uj_per_unit = [{tiers}]",
        f"min_work_per_epoch = {c.min_work_per_epoch}",
        f"max_units_per_second = {c.max_units_per_second}",
        f"require_measured = {'true' if c.require_measured else 'false'}",
    ])


def check(params_path: Path) -> list[str]:
    """Differences between the derived classes and those of a params file (empty: they agree)."""
    sys.path.insert(0, str(REPO))
    from oracle.chain.deploy import load_params

    params = load_params(params_path)
    problems = []
    for c in derive_all():
        got = params.classes.get(c.class_id)
        if got is None:
            continue  # a params file may leave a class out (sepolia has no replayed demo class)
        for name in ("hardware_class", "workload", "unit", "quality_floor", "baseline_uj_per_unit",
                     "tiers_uj_per_unit", "min_work_per_epoch", "max_units_per_second", "require_measured"):
            if getattr(got, name) != getattr(c, name):
                problems.append(f"{params_path.name}: {c.class_id}.{name} = {getattr(got, name)!r}, "
                                f"derived {getattr(c, name)!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed params files")
    args = parser.parse_args(argv)
    if args.check:
        problems = [p for name in ("default_params.toml", "sepolia_params.toml")
                    for p in check(REPO / "oracle/chain" / name)]
        print("\n".join(problems) or "params files agree with the derivation")
        return 1 if problems else 0
    for c in derive_all():
        print("\n".join(f"# {line}" for line in c.provenance))
        print(toml_block(c))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
