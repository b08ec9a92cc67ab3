"""Carbon-aware scheduler: real hourly grid traces, forecasts from the past only, an RL placement policy and
its baselines (run-now, greedy lowest-forecast window, perfect-foresight optimum).

For the oracle node: `greenest_start(forecast_start, intensity, now, deadline, duration_h)` (pure) and
`forecast(history, horizon)` to build the forecast from the intensities observed so far.
"""

from oracle.schedule.forecast import forecast, greenest_start

__all__ = ["forecast", "greenest_start"]
