"""NVIDIA GPUs through NVML (package nvidia-ml-py, module `pynvml`).

Per GPU we read the total-energy counter (mJ since driver load, Volta and newer). Where the driver reports it
unsupported we integrate sampled power (trapezoids between 10 Hz samples) and label the reading
`power_integration`. A GPU that stops answering (fell off the bus, reset) yields a recorded gap from its last good
sample; when it answers again the counter is primed afresh, because the energy in between is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable, counter_delta

COUNTER = "energy_counter"
INTEGRATION = "power_integration"
# Largest sample spacing over which integrating power is still honest; longer spans become gaps.
MAX_INTEGRATION_GAP_S = 1.0
# A counter increase above power_limit x this factor x (dt + COUNTER_LAG_S) is physically impossible: treat it
# as a reset. The lag allowance matters because the counter moves in ~100 ms steps, so a short interval (the
# final tick at an epoch boundary) can legitimately see a whole step.
PLAUSIBLE_POWER_FACTOR = 2.0
COUNTER_LAG_S = 1.0


@dataclass
class _Gpu:
    index: int
    handle: Any
    name: str
    device: str
    method: str
    power_limit_w: float | None
    uuid: str = ""  # NVML UUID ("GPU-…"): the ID the NVIDIA device plugin gives the kubelet (pod attribution)
    last_value: int | None = None  # mJ (counter) or mW (power)
    last_t: float | None = None
    lost_reason: str | None = None


def load_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:  # nvidia-ml-py is a declared dependency; say so if it is missing
        raise SourceUnavailable(f"nvidia-ml-py is not installed ({exc})") from exc
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlSource:
    """Energy of every NVIDIA GPU (or the given indices), measured through NVML.

    `nvml` is the NVML library module; it defaults to `pynvml`. Tests without a GPU pass a small in-process
    stand-in for the library functions so that this class's own arithmetic runs unchanged.
    """

    name = "nvml"

    def __init__(self, nvml: ModuleType | Any | None = None, indices: list[int] | None = None) -> None:
        self._nvml = nvml if nvml is not None else load_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            raise SourceUnavailable(f"NVML unavailable: {exc}") from exc
        try:
            count = self._nvml.nvmlDeviceGetCount()
            if count == 0:
                raise SourceUnavailable("NVML found no GPU")
            self.driver = _text(self._nvml.nvmlSystemGetDriverVersion())
            self._gpus = [self._open(i) for i in (indices if indices is not None else range(count))]
        except self._nvml.NVMLError as exc:
            self.close()
            raise SourceUnavailable(f"NVML error while opening GPUs: {exc}") from exc
        except SourceUnavailable:
            self.close()
            raise

    def _open(self, index: int) -> _Gpu:
        nv = self._nvml
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        name = _text(nv.nvmlDeviceGetName(handle))
        try:
            limit_w: float | None = nv.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
        except nv.NVMLError:
            limit_w = None
        try:
            uuid = _text(nv.nvmlDeviceGetUUID(handle))
        except nv.NVMLError:  # only labels depend on it: measure without, the GPU's pod stays unknown
            uuid = ""
        try:
            nv.nvmlDeviceGetTotalEnergyConsumption(handle)
            method = COUNTER
        except nv.NVMLError as exc:
            if getattr(exc, "value", None) != nv.NVML_ERROR_NOT_SUPPORTED:
                raise
            method = INTEGRATION
        return _Gpu(index, handle, name, f"gpu{index}:{name}", method, limit_w, uuid)

    def devices(self) -> list[str]:
        return [g.device for g in self._gpus]

    def gpu_uuids(self) -> dict[str, str]:
        """Device name → NVML UUID, for the `gpu_uuid` label of the metrics (empty where NVML did not say)."""
        return {g.device: g.uuid for g in self._gpus}

    @property
    def cumulative(self) -> bool:
        """True when every GPU has the energy counter: then reads at interval boundaries suffice (CounterReader);
        power integration needs the 10 Hz sampler."""
        return all(g.method == COUNTER for g in self._gpus)

    def info(self) -> list[dict[str, Any]]:
        """Context for reports: name, method, power limit, current utilisation (None where unreadable)."""
        out = []
        for g in self._gpus:
            try:
                util: float | None = float(self._nvml.nvmlDeviceGetUtilizationRates(g.handle).gpu)
            except self._nvml.NVMLError:
                util = None
            out.append({"index": g.index, "device": g.device, "name": g.name, "uuid": g.uuid, "method": g.method,
                        "power_limit_w": g.power_limit_w, "gpu_util_pct": util, "driver": self.driver})
        return out

    def read_counter_mj(self, index: int = 0) -> int:
        """The raw total-energy counter of one GPU (for gpu_check's side-by-side comparison)."""
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._gpus[index].handle))

    def read_power_mw(self, index: int = 0) -> int:
        return int(self._nvml.nvmlDeviceGetPowerUsage(self._gpus[index].handle))

    def sample(self, now: float) -> list[Item]:
        out: list[Item] = []
        for g in self._gpus:
            item = self._sample_one(g, now)
            if item is not None:
                out.append(item)
        return out

    def _sample_one(self, g: _Gpu, now: float) -> Item | None:
        nv = self._nvml
        try:
            if g.method == COUNTER:
                value = int(nv.nvmlDeviceGetTotalEnergyConsumption(g.handle))
            else:
                value = int(nv.nvmlDeviceGetPowerUsage(g.handle))
        except nv.NVMLError as exc:
            # The GPU vanished or stopped answering: whatever it used since its last good sample is unknown.
            gap = None
            if g.last_t is not None and now > g.last_t:
                gap = Gap(g.last_t, now, g.device, self.name, f"GPU not readable: {exc}")
            g.last_value, g.last_t, g.lost_reason = None, now, str(exc)
            return gap
        last_value, last_t = g.last_value, g.last_t
        g.last_value, g.last_t = value, now
        if last_value is None:
            if last_t is not None and now > last_t:  # back after a loss: primed again, the span is unknown
                return Gap(last_t, now, g.device, self.name, f"GPU readable again after: {g.lost_reason}")
            return None
        assert last_t is not None
        dt = now - last_t
        if dt <= 0:
            return None
        if g.method == COUNTER:
            max_delta = (g.power_limit_w * PLAUSIBLE_POWER_FACTOR * (dt + COUNTER_LAG_S) * 1000.0
                         if g.power_limit_w else None)
            delta = counter_delta(last_value, value, 2**64, max_delta)
            if delta is None:
                return Gap(last_t, now, g.device, self.name,
                           f"energy counter reset or implausible jump ({last_value} -> {value} mJ)")
            return Reading(last_t, now, g.device, self.name, COUNTER, "measured", float(delta))
        if dt > MAX_INTEGRATION_GAP_S:
            return Gap(last_t, now, g.device, self.name, f"power samples {dt:.2f} s apart: too far to integrate")
        energy_mj = (last_value + value) / 2.0 * dt  # mW x s = mJ
        return Reading(last_t, now, g.device, self.name, INTEGRATION, "measured", energy_mj)

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutting down a library that is already gone is not an error worth raising
            pass
