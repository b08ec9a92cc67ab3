"""Measured configuration profiles: one CSV format, parsed strictly.

A profile row is one configuration (gpu, workload, precision, batch, power limit) with what was measured
running it: throughput, latency per batch call, energy per item, mean power and quality retained
(fraction of the reference model's accuracy; blank when unknown).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from oracle.csvinput import read_input_file
from oracle.errors import UsageError

# The committed measured profiles (provenance: data/PROVENANCE.md).
DATA_DIR = Path(__file__).resolve().parent / "data"
H200_PROFILE = DATA_DIR / "h200_mlp8x4096_profile.csv"  # 8 x (Linear 4096 + GELU) on an H200, NVML counter
H200_DIGITS_PROFILE = DATA_DIR / "h200_digits_mlp_profile.csv"  # `ecoai profile` on an H200, NVML counter
CPU_DIGITS_PROFILE = DATA_DIR / "cpu_digits_mlp_profile.csv"  # `ecoai profile` on a CPU, estimated energy

COLUMNS: tuple[str, ...] = (
    "gpu",
    "workload",
    "precision",
    "batch",
    "power_limit_w",
    "items_per_s",
    "latency_ms",
    "energy_j_per_item",
    "mean_power_w",
    "quality",
)
# Columns that may be blank: quality when unknown, power limit where the device has none (CPU).
OPTIONAL_COLUMNS = frozenset({"quality", "power_limit_w"})
# Bits per number of each precision a profile may name (features of the energy model and the online learner).
PRECISION_BITS = {"fp64": 64, "fp32": 32, "tf32": 19, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4}
# Measurement provenance is recorded in a comment line the profiler writes ("# method: ...").
COMMENT_PREFIX = "#"


class ProfileError(UsageError):
    """A profile file that cannot be used as given (one clear line, exit 2)."""


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One measured configuration. Units: W, items/s, ms per batch call, J per item."""

    gpu: str
    workload: str
    precision: str
    batch: int
    power_limit_w: float | None
    items_per_s: float
    latency_ms: float
    energy_j_per_item: float
    mean_power_w: float
    quality: float | None

    @property
    def key(self) -> tuple[str, int, float | None]:
        """The configuration knobs that tell rows of one profile apart."""
        return (self.precision, self.batch, self.power_limit_w)

    def label(self) -> str:
        limit = "" if self.power_limit_w is None else f" @{self.power_limit_w:g}W"
        return f"{self.precision} b{self.batch}{limit}"

    def as_dict(self) -> dict[str, str | int | float | None]:
        return asdict(self)


def _number(value: str, column: str, line: int, *, optional: bool) -> float | None:
    text = value.strip()
    if text == "":
        if optional:
            return None
        raise ProfileError(f"line {line}: column {column!r} is empty")
    try:
        number = float(text)
    except ValueError:
        raise ProfileError(f"line {line}: column {column!r} is not a number: {text!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ProfileError(f"line {line}: column {column!r} must be a finite number >= 0, got {text!r}")
    return number


def parse_profile(text: str, source: str = "profile") -> list[ProfileRow]:
    """Parse profile CSV text; raise ProfileError on unknown/missing columns, empty profiles, bad values."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(COMMENT_PREFIX)]
    if not lines:
        raise ProfileError(f"{source}: empty profile (no header, no rows)")
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ProfileError(f"{source}: unknown column(s) {', '.join(unknown)}; expected {','.join(COLUMNS)}")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ProfileError(f"{source}: missing column(s) {', '.join(missing)}")
    rows: list[ProfileRow] = []
    seen: set[tuple[str, str, str, int, float | None]] = set()
    for line_no, raw in enumerate(reader, start=2):
        rec = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        if None in raw:
            raise ProfileError(f"{source}: line {line_no}: more fields than columns")
        nums = {
            c: _number(rec[c], c, line_no, optional=c in OPTIONAL_COLUMNS)
            for c in COLUMNS
            if c not in ("gpu", "workload", "precision")
        }
        for c in ("gpu", "workload", "precision"):
            if not rec[c].strip():
                raise ProfileError(f"{source}: line {line_no}: column {c!r} is empty")
        batch = nums["batch"]
        assert batch is not None
        if batch < 1 or batch != int(batch):
            raise ProfileError(f"{source}: line {line_no}: batch must be a positive integer")
        for c in ("items_per_s", "latency_ms", "energy_j_per_item"):
            if not nums[c]:
                raise ProfileError(f"{source}: line {line_no}: {c} must be > 0")
        row = ProfileRow(
            gpu=rec["gpu"].strip(),
            workload=rec["workload"].strip(),
            precision=rec["precision"].strip(),
            batch=int(batch),
            power_limit_w=nums["power_limit_w"],
            items_per_s=float(nums["items_per_s"] or 0),
            latency_ms=float(nums["latency_ms"] or 0),
            energy_j_per_item=float(nums["energy_j_per_item"] or 0),
            mean_power_w=float(nums["mean_power_w"] or 0),
            quality=nums["quality"],
        )
        ident = (row.gpu, row.workload, *row.key)
        if ident in seen:
            raise ProfileError(f"{source}: line {line_no}: duplicate configuration {row.label()}")
        seen.add(ident)
        rows.append(row)
    if not rows:
        raise ProfileError(f"{source}: empty profile (header only, no rows)")
    return rows


def load_profile(path: str | Path) -> list[ProfileRow]:
    """Read and validate a profile CSV file."""
    return parse_profile(read_input_file(path, "profile", ProfileError), source=str(path))


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value)  # str(float) is the shortest text that reads back to the same float


def format_profile(rows: Iterable[ProfileRow], comments: Sequence[str] = ()) -> str:
    """CSV text for rows (header first), with optional leading '# ...' provenance comments."""
    out = io.StringIO()
    for comment in comments:
        out.write(f"{COMMENT_PREFIX} {comment}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, f.name)) for f in fields(ProfileRow)])
    return out.getvalue()


def write_profile(rows: Iterable[ProfileRow], path: str | Path, comments: Sequence[str] = ()) -> None:
    Path(path).write_text(format_profile(rows, comments))
