"""Deferrable jobs: CSV `id, submit, deadline, duration_h, power_kw, zones` (zones separated by '|').

A job may start at any whole hour from its submit time (rounded up to the hour) and must finish by its
deadline (rounded down to the hour). It draws `power_kw` for `duration_h` whole hours in one zone of
`zones`; the first zone is its home zone, where run-now places it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from oracle.csvinput import csv_records, read_input_file
from oracle.errors import UsageError
from oracle.schedule.trace import HOUR, CarbonTrace, ceil_hour, floor_hour, parse_time

JOB_COLUMNS = ("id", "submit", "deadline", "duration_h", "power_kw", "zones")


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    submit: datetime
    deadline: datetime
    duration_h: int
    power_kw: float
    zones: tuple[str, ...]

    @property
    def earliest(self) -> datetime:
        return ceil_hour(self.submit)

    @property
    def latest(self) -> datetime:
        """Latest whole-hour start that still finishes by the deadline."""
        return floor_hour(self.deadline) - self.duration_h * HOUR


def parse_jobs(text: str, source: str = "jobs") -> list[Job]:
    reader = csv_records(text, JOB_COLUMNS, source, "jobs file")
    jobs: list[Job] = []
    seen: set[str] = set()
    for line, rec in enumerate(reader, start=2):
        where = f"{source}: line {line}"
        job_id = (rec["id"] or "").strip()
        if not job_id or job_id in seen:
            raise UsageError(f"{where}: job id must be non-empty and unique")
        seen.add(job_id)
        try:
            submit, deadline = parse_time(rec["submit"] or ""), parse_time(rec["deadline"] or "")
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        try:
            duration = float(rec["duration_h"] or "")
            power = float(rec["power_kw"] or "")
        except ValueError:
            raise UsageError(f"{where}: duration_h and power_kw must be numbers") from None
        if not (duration >= 1 and duration == int(duration)):
            raise UsageError(f"{where}: duration_h must be a whole number of hours >= 1")
        if not (math.isfinite(power) and power > 0):
            raise UsageError(f"{where}: power_kw must be > 0")
        zones = tuple(z.strip() for z in (rec["zones"] or "").split("|") if z.strip())
        if not zones:
            raise UsageError(f"{where}: zones is empty")
        job = Job(job_id, submit, deadline, int(duration), power, zones)
        if job.latest < job.earliest:
            raise UsageError(f"{where}: job {job_id} cannot finish by its deadline "
                             f"({int(duration)} h from {job.earliest.isoformat()})")
        jobs.append(job)
    if not jobs:
        raise UsageError(f"{source}: no jobs (header only)")
    return jobs


def load_jobs(path: str | Path) -> list[Job]:
    return parse_jobs(read_input_file(path, "jobs"), str(path))


def format_jobs(jobs: Sequence[Job]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(JOB_COLUMNS)
    for j in jobs:
        w.writerow([j.id, j.submit.strftime("%Y-%m-%dT%H:%M:%SZ"), j.deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    j.duration_h, f"{j.power_kw:g}", "|".join(j.zones)])
    return out.getvalue()


def generate_jobs(trace: CarbonTrace, zones: Sequence[str], seed: int = 0, every_h: float = 3.0,
                  duration_h: tuple[int, int] = (1, 4), slack_h: tuple[int, int] = (4, 24),
                  power_kw: tuple[float, float] = (0.5, 5.0), multi_zone: bool = False,
                  margin_h: int = 8 * 24) -> list[Job]:
    """A reproducible synthetic workload over a trace: Poisson arrivals (mean gap `every_h`), uniform
    whole-hour durations and slack (deadline - submit - duration), uniform power. The first `margin_h`
    hours are left as forecast history. With `multi_zone`, each job may run in a random subset of `zones`
    (home zone first). Jobs whose window touches a trace gap are not generated."""
    rng = np.random.default_rng(seed)
    jobs: list[Job] = []
    t = float(margin_h)
    n = 0
    while True:
        t += rng.exponential(every_h)
        start = int(math.ceil(t))
        dur = int(rng.integers(duration_h[0], duration_h[1] + 1))
        slack = int(rng.integers(slack_h[0], slack_h[1] + 1))
        end = start + dur + slack
        if end > trace.hours:
            break
        if multi_zone:
            k = int(rng.integers(1, len(zones) + 1))
            picked = tuple(str(z) for z in rng.permutation(list(zones))[:k])
        else:
            picked = (str(zones[int(rng.integers(len(zones)))]),)
        rows = [trace.zone_index(z) for z in picked]
        if np.isnan(trace.values[rows, start:end]).any():
            continue
        power = round(float(rng.uniform(*power_kw)), 2)
        jobs.append(Job(f"j{n:05d}", trace.time(start), trace.time(end), dur, power, picked))
        n += 1
    return jobs


def main() -> int:
    """Regenerate data/sample_jobs.csv: two weeks of July 2020, jobs that may run in any subset of 3 zones."""
    from datetime import datetime, timezone

    from oracle.schedule.trace import DATA_DIR, load_trace

    trace = load_trace().window(datetime(2020, 6, 23, tzinfo=timezone.utc), datetime(2020, 7, 15, tzinfo=timezone.utc))
    jobs = generate_jobs(trace, trace.zones, seed=3, every_h=6.0, multi_zone=True)
    (DATA_DIR / "sample_jobs.csv").write_text(format_jobs(jobs))
    print(f"wrote {len(jobs)} jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
