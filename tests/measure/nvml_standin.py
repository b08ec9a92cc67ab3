"""STAND-IN for the NVML *library functions* (pynvml), for tests on machines without a GPU.

Only the library boundary is replaced: NvmlSource's own arithmetic (counter deltas, wrap/reset, power
integration, gaps) runs unchanged on values scripted here. The real library is exercised on a GPU by
scripts/gpu_check.py, which compares our NVML energy with 10 ms power integration (an independent method).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIBRARY_NOT_FOUND = 12


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__({3: "Not Supported", 12: "NVML Shared Library Not Found", 15: "GPU is lost"}.get(value, value))
        self.value = value


@dataclass
class Utilization:
    gpu: int
    memory: int


@dataclass
class StandInGpu:
    name: str = "NVIDIA H200"
    power_limit_mw: int = 700_000
    counter_mj: list[int] = field(default_factory=list)  # successive counter values; None entries = lost
    power_mw: list[int] = field(default_factory=list)
    supports_counter: bool = True
    uuid: str | None = "GPU-00000000-0000-0000-0000-000000000000"  # None: the UUID query fails


class StandInNvml:
    """Module-like object with the pynvml functions NvmlSource calls (labelled stand-in, not NVML)."""

    NVMLError = NVMLError
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST

    def __init__(self, gpus: list[StandInGpu], init_error: int | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.shutdown_called = False
        self._counter_calls = [0] * len(gpus)
        self._power_calls = [0] * len(gpus)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown_called = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159 (stand-in)"

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self.gpus[h].name.encode()  # older pynvml returns bytes: the source must decode

    def nvmlDeviceGetUUID(self, h: int) -> bytes:
        uuid = self.gpus[h].uuid
        if uuid is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return uuid.encode()  # bytes, as older pynvml returns: the source must decode

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self.gpus[h].power_limit_mw

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Utilization:
        return Utilization(50, 10)

    def _next(self, values: list, calls: list[int], h: int) -> int:
        i = min(calls[h], len(values) - 1)
        calls[h] += 1
        value = values[i]
        if value is None:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return value

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        gpu = self.gpus[h]
        if not gpu.supports_counter:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if self._counter_calls[h] == 0 and not hasattr(self, f"_probed{h}"):
            setattr(self, f"_probed{h}", True)  # the support probe at open time does not consume a value
            return gpu.counter_mj[0] if gpu.counter_mj and gpu.counter_mj[0] is not None else 0
        return self._next(gpu.counter_mj, self._counter_calls, h)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._next(self.gpus[h].power_mw, self._power_calls, h)


def drive(source: object, times: list[float]) -> list:
    """Call source.sample(t) for each t and collect everything it returns."""
    out: list = []
    sample: Callable[[float], list] = source.sample  # type: ignore[attr-defined]
    for t in times:
        out.extend(sample(t))
    return out
