"""The node's own footprint: the energy a node spent sampling and proving, reported off chain.

GreenProof does not carry it (it is not part of the proof), so the index cannot have it. A node records it per
epoch in its own state database (oracle/node/state.py: `node_epochs.footprint_mj`, `footprint_method`);
`ecoai web --node-db PATH` (repeatable; `ecoai up` passes its own node.db) names those databases, which this
module reads read-only (an SQLite `mode=ro` URI: the web never writes a node's state) on each node page view.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Every epoch the node reported a footprint for: energy spent sampling an epoch that was not proved is spent too.
_TOTAL = ("SELECT SUM(footprint_mj), COUNT(footprint_mj) FROM node_epochs "
          "WHERE lower(node) = ? AND footprint_mj IS NOT NULL")
_METHODS = ("SELECT DISTINCT footprint_method FROM node_epochs WHERE lower(node) = ? AND footprint_mj IS NOT NULL "
            "ORDER BY footprint_method")


@dataclass(frozen=True)
class Footprint:
    """A node's reported footprint: total mJ over `epochs` accepted epochs, and how it was obtained
    (e.g. "estimated: …" or "measured: …"; several methods joined by "; ")."""

    mj: int
    epochs: int
    method: str


class NodeFootprints:
    """Footprints from the node databases given (read-only); a node none of them reports has None."""

    def __init__(self, paths: Iterable[Path | str] = ()) -> None:
        self.paths = [Path(p) for p in paths]

    def __bool__(self) -> bool:
        return bool(self.paths)

    def of(self, node: str) -> Footprint | None:
        total, epochs, methods = 0, 0, []
        for path in self.paths:
            found = _read(path, node.lower())
            if found is None or not found[1]:
                continue
            total += found[0]
            epochs += found[1]
            methods += [m for m in found[2] if m not in methods]
        if not epochs:
            return None
        return Footprint(total, epochs, "; ".join(methods) or "method not reported")


def _read(path: Path, node: str) -> tuple[int, int, list[str]] | None:
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        total, epochs = conn.execute(_TOTAL, (node,)).fetchone()
        methods = [str(m) for (m,) in conn.execute(_METHODS, (node,)) if m]
        return int(total or 0), int(epochs or 0), methods
    except sqlite3.Error:  # not a node database (no node_epochs table), locked, or an older schema
        return None
    finally:
        conn.close()
