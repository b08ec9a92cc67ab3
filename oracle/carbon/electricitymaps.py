"""Optional live grid intensity from the Electricity Maps API (v3 `carbon-intensity/latest`).

Token from the environment (ELECTRICITYMAPS_API_TOKEN); base URL from ELECTRICITYMAPS_API_URL (default the
public API; tests point it at a local fake server of the documented response shape). The shipped yearly table
stays the default; a live figure is reported with its own source line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

DEFAULT_URL = "https://api.electricitymap.org"


class ElectricityMapsError(Exception):
    """The API could not give an intensity (no token, HTTP error, malformed answer); one-line message."""


@dataclass(frozen=True)
class LiveIntensity:
    zone: str
    g_per_kwh: float
    datetime: str
    is_estimated: bool | None
    emission_factor_type: str | None

    def describe(self) -> str:
        est = " (estimated)" if self.is_estimated else ""
        return (f"Electricity Maps live carbon-intensity for zone {self.zone} at {self.datetime}{est}, "
                f"{self.emission_factor_type or 'lifecycle'} factors; location-based")


class ElectricityMaps:
    def __init__(self, token: str | None = None, base_url: str | None = None, timeout_s: float = 10.0) -> None:
        self.token = token if token is not None else os.environ.get("ELECTRICITYMAPS_API_TOKEN")
        self.base_url = (base_url or os.environ.get("ELECTRICITYMAPS_API_URL") or DEFAULT_URL).rstrip("/")
        self.timeout_s = timeout_s

    def latest(self, zone: str) -> LiveIntensity:
        """Latest carbon intensity (gCO2eq/kWh) of a zone such as "KR" or "DE"."""
        if not self.token:
            raise ElectricityMapsError("set ELECTRICITYMAPS_API_TOKEN to use live intensity")
        url = f"{self.base_url}/v3/carbon-intensity/latest?{urllib.parse.urlencode({'zone': zone})}"
        request = urllib.request.Request(url, headers={"auth-token": self.token})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            raise ElectricityMapsError(f"Electricity Maps answered HTTP {exc.code} for zone {zone}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ElectricityMapsError(f"Electricity Maps not reachable: {exc}") from exc
        except ValueError as exc:
            raise ElectricityMapsError(f"Electricity Maps sent malformed JSON: {exc}") from exc
        value = body.get("carbonIntensity") if isinstance(body, dict) else None
        if not isinstance(value, (int, float)) or value < 0:
            raise ElectricityMapsError(f"Electricity Maps gave no carbonIntensity for zone {zone}")
        return LiveIntensity(str(body.get("zone", zone)), float(value), str(body.get("datetime", "")),
                             body.get("isEstimated"), body.get("emissionFactorType"))
