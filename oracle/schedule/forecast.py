"""Carbon-intensity forecasts from the past only, and the greenest start time for deferrable work.

Forecast at decision hour t (the hours before t are known, hour t and later are not), for hour t+h:

    seasonal(t+h) = mean of the same hour of day over the 7 most recent known days
    level(t)      = y[t-1] - seasonal estimate of hour t-1 (same rule)
    forecast      = seasonal(t+h) + level(t) · DECAY^(h+1)

A persistence-corrected seasonal-naive forecast: cheap, needs no training, and uses nothing from the future.
`forecast_matrix` computes it for every t at once; `forecast_matrix(y, H)[t] == forecast(y[:t], H)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from oracle.errors import UsageError

DAYS = 7
DECAY = 0.9  # per hour: the current deviation from the daily profile fades with an e-folding of ~10 h


def _seasonal(series: np.ndarray, targets: np.ndarray, known_until: np.ndarray) -> np.ndarray:
    """Mean of series[target - 24k] over the DAYS most recent k with target - 24k < known_until."""
    lead = targets - known_until  # >= 0 for future hours, -1 for the last known hour
    k0 = np.maximum(1, (lead + 24) // 24)
    acc = np.zeros(len(targets))
    cnt = np.zeros(len(targets))
    for d in range(DAYS):
        idx = targets - 24 * (k0 + d)
        ok = idx >= 0
        vals = np.where(ok, series[np.clip(idx, 0, len(series) - 1)], np.nan)
        good = ~np.isnan(vals)
        acc += np.where(good, vals, 0.0)
        cnt += good
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)


def forecast_matrix(series: np.ndarray, horizon: int) -> np.ndarray:
    """F[t, h] = forecast of series[t+h] made at hour t from series[:t] only. Shape (len(series), horizon)."""
    y = np.asarray(series, dtype=float)
    n = len(y)
    t = np.arange(n)
    last = np.where(t >= 1, y[np.clip(t - 1, 0, n - 1)], np.nan)
    level = last - _seasonal(y, t - 1, t)
    level = np.where(np.isnan(level), 0.0, level)
    out = np.empty((n, horizon))
    for h in range(horizon):
        seasonal = _seasonal(y, t + h, t)
        fallback = np.where(np.isnan(last), np.nan, last)  # too little history: persistence
        base = np.where(np.isnan(seasonal), fallback, seasonal)
        out[:, h] = base + level * DECAY ** (h + 1)
    return out


def forecast(history: Sequence[float] | np.ndarray, horizon: int) -> np.ndarray:
    """Forecast of the `horizon` hours following `history` (hourly values up to now; NaN = missing)."""
    hist = np.asarray(history, dtype=float)
    if len(hist) == 0:
        raise UsageError("a forecast needs at least one hour of history")
    if horizon < 1:
        raise UsageError("forecast horizon must be >= 1 hour")
    padded = np.concatenate([hist, np.full(horizon, np.nan)])
    return forecast_matrix(padded, horizon)[len(hist)]


def window_means(values: np.ndarray, duration: int) -> np.ndarray:
    """Mean over each run of `duration` consecutive values (NaN if any is NaN); length len - duration + 1."""
    if duration < 1 or duration > len(values):
        return np.array([])
    c = np.concatenate([[0.0], np.cumsum(np.where(np.isnan(values), 0.0, values))])
    bad = np.concatenate([[0], np.cumsum(np.isnan(values))])
    sums = c[duration:] - c[:-duration]
    nan = (bad[duration:] - bad[:-duration]) > 0
    return np.where(nan, np.nan, sums / duration)


def greenest_start(forecast_start: datetime, intensity_g_per_kwh: Sequence[float], now: datetime,
                   deadline: datetime, duration_h: float) -> datetime:
    """Greenest start time for deferrable work, from a forecast available now.

    `intensity_g_per_kwh[i]` is the forecast intensity of the hour starting at `forecast_start + i hours`.
    The work takes `duration_h` hours (rounded up to whole hours) and must finish by `deadline`. Candidate
    starts are `now` and every later forecast hour start up to `deadline - duration`; the one whose hours
    have the lowest mean forecast intensity wins (the earliest on ties). If the forecast does not cover the
    window, or the window is too short for the work, it returns `now`: run at once rather than miss the
    deadline. Pure: no clock, no I/O.
    """
    if duration_h <= 0:
        raise UsageError("duration must be > 0 hours")
    hours = int(np.ceil(duration_h))
    latest = deadline - timedelta(hours=hours)
    if latest <= now:
        return now
    values = np.asarray(intensity_g_per_kwh, dtype=float)
    first = max(0, int(np.ceil((now - forecast_start) / timedelta(hours=1))))
    candidates: list[tuple[float, datetime]] = []
    means = window_means(values, hours)
    for i in range(first, len(means)):
        start = forecast_start + timedelta(hours=i)
        if start > latest:
            break
        if not np.isnan(means[i]):
            candidates.append((float(means[i]), start))
    if not candidates:
        return now
    best_value, best_start = min(candidates, key=lambda c: (c[0], c[1]))
    # `now` itself sits inside the hour before the first whole hour: compare it with that hour's window.
    now_index = int((now - forecast_start) // timedelta(hours=1))
    if 0 <= now_index < len(means) and not np.isnan(means[now_index]) and means[now_index] <= best_value:
        return now
    return best_start
