"""The node's side of a relay: `hand_over` posts one v2 proof bundle to a relay's POST /v1/proofs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from eth_utils import to_checksum_address

from oracle.conventions import proof_to_calldata


class RelayRefused(Exception):
    """The relay refuses the proof for good (422: invalid, 409: already accepted on chain); `reason` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"relay refused the proof ({status}): {reason}")
        self.status = status
        self.reason = reason


class RelayUnavailable(Exception):
    """The relay did not answer, or answered with a server error: hand the proof over again later."""


def submission_body(bundle: Any, tier: int, node: str | None = None) -> dict[str, Any]:
    """The POST /v1/proofs JSON for an EfficiencyProofBundle (or a mapping with `proof` and `public_signals`):
    work, epoch, node, methods and commitment are read from the public signals, which bind them."""
    if isinstance(bundle, Mapping):
        proof, signals = bundle["proof"], bundle["public_signals"]
    else:
        proof, signals = bundle.proof, bundle.public_signals
    signals = [str(s) for s in signals]
    if len(signals) != 6:
        raise ValueError(f"a v2 efficiency proof has 6 public signals, got {len(signals)}")
    words = proof if isinstance(proof, list) else proof_to_calldata(proof)
    node_from_proof = to_checksum_address(int(signals[3]).to_bytes(20, "big"))
    if node is not None and to_checksum_address(node) != node_from_proof:
        raise ValueError(f"node {node} is not the proof's node {node_from_proof}")
    return {"node": node_from_proof, "epoch": int(signals[2]), "tier": int(tier), "work": signals[1],
            "methods": int(signals[4]), "commitment": signals[5], "proof": [str(int(w)) for w in words],
            "public_signals": signals}


def hand_over(url: str, bundle: Any, *, tier: int, node: str | None = None, timeout_s: float = 60.0,
              session: requests.Session | None = None) -> dict[str, Any]:
    """Hand one proof to the relay at `url` (e.g. http://127.0.0.1:8600). Returns the relay's record of the item
    ({"status": "queued" | "batched" | "settled" | "failed", "duplicate": bool, "tx_hash", …}); handing the same
    (node, epoch) over again is safe and returns the same record. Raises RelayRefused (do not retry: the proof
    can never settle as is) or RelayUnavailable (retry later; the node keeps the proof until then).

    The timeout covers the relay's proof check (about 2 s per proof with the pure-Python verifier)."""
    body = submission_body(bundle, tier, node)
    http = session or requests
    try:
        response = http.post(url.rstrip("/") + "/v1/proofs", json=body, timeout=timeout_s)
    except requests.RequestException as exc:
        raise RelayUnavailable(f"relay {url} did not answer ({type(exc).__name__})") from None
    if response.status_code in (200, 202):
        return response.json()
    if response.status_code in (409, 422):
        try:
            reason = str(response.json().get("error", response.text))
        except ValueError:
            reason = response.text
        raise RelayRefused(response.status_code, reason)
    raise RelayUnavailable(f"relay {url} answered {response.status_code}")
