"""Shared pieces of the fault campaign (issue 14): a persistent loopback JSON-RPC client with batches, the
v2 stack on a fresh anvil with admitted nodes, and the summary table every campaign reports into.

The campaigns live next to this file (campaign_*.py); bench/faults.py runs them at full size and prints the
summary table, tests/faults/test_*.py run short versions. Everything talks to loopback only."""

from __future__ import annotations

import http.client
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from faulty_rpc import check_loopback  # the one loopback check, next to the proxy

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


class JsonRpc:
    """A keep-alive JSON-RPC client (http.client) that sends single calls or batches of calls."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        check_loopback(url)
        parsed = urlparse(url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, parsed.path or "/"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                return json.loads(self._conn.getresponse().read())
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, params: list | None = None) -> Any:
        self._id += 1
        answer = self._post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []})
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list[dict]:
        """[(method, params)] → the raw answers ({"result"} or {"error"}) in the same order."""
        if not calls:
            return []
        first = self._id + 1
        self._id += len(calls)
        answers = self._post([{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
                              for i, (m, p) in enumerate(calls)])
        by_id = {a["id"]: a for a in answers}
        return [by_id[first + i] for i in range(len(calls))]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(error.get("message", str(error)))
        self.error = error

    @property
    def data(self) -> str | None:
        data = self.error.get("data")
        return data if isinstance(data, str) else None


# ---------------------------------------------------------------- the summary table


@dataclass
class CampaignResult:
    campaign: str
    tried: int
    held: int  # how many of `tried` the system handled safely
    size: str = ""  # "full" or "short (...)": what was run
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # what did not hold, one line each

    @property
    def ok(self) -> bool:
        return self.held == self.tried and not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "tried": self.tried, "held": self.held, "size": self.size,
                "ok": self.ok, "figures": self.figures, "failures": self.failures[:50]}


def summary_table(results: list[CampaignResult]) -> str:
    rows = [("campaign", "tried", "held", "result")]
    for r in results:
        rows.append((r.campaign, f"{r.tried:,}", f"{r.held:,}", "holds" if r.ok else f"FAILS ({len(r.failures)})"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    line = "| " + " | ".join("-" * w for w in widths) + " |"
    out = []
    for n, row in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            out.append(line)
    return "\n".join(out)


class Deadline:
    """A time budget: `left()` seconds remain; `over()` once spent."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def over(self) -> bool:
        return self.left() <= 0
