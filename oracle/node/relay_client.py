"""The node's side of a relay (`ecoai relay`): `hand_over` posts one v2 efficiency proof to the relay's
POST /v1/proofs. It needs only HTTP and oracle.conventions, so the node never imports the relay (layers: the
relay sits above the node); the relay's tests use it as the node does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from eth_utils import to_checksum_address

from oracle.conventions import proof_to_calldata

N_PUBLIC_SIGNALS = 6  # the efficiency circuit's public signals: τ, W, epoch, node, methods, commitment


class RelayRefused(Exception):
    """The relay refuses the proof for good (422: invalid, 409: already accepted on chain); `reason` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"relay refused the proof ({status}): {reason}")
        self.status = status
        self.reason = reason


class RelayUnavailable(Exception):
    """The relay did not answer, or answered with a server error: hand the proof over again later."""


def _proof_and_signals(bundle: Any) -> tuple[Any, list[str]]:
    """(proof, public signals) of an EfficiencyProofBundle, of snarkjs's JSON as the node stores it
    ({"proof", "publicSignals"}), or of a mapping with "public_signals"."""
    if isinstance(bundle, Mapping):
        signals = bundle.get("publicSignals", bundle.get("public_signals"))
        proof = bundle.get("proof")
        if proof is None or signals is None:
            raise ValueError("a proof bundle needs `proof` and `publicSignals` (or `public_signals`)")
    else:
        proof, signals = bundle.proof, bundle.public_signals
    return proof, [str(s) for s in signals]


def submission_body(bundle: Any, *, tier: int, node: str) -> dict[str, Any]:
    """The POST /v1/proofs JSON {node, epoch, tier, work, methods, commitment, proof, public_signals} for one
    proof bundle (see _proof_and_signals). `tier` is the tier index the node proved (its τ is public signal 0,
    the relay checks it against the node's class); work, epoch, methods and commitment come from the public
    signals, which bind them. ValueError when `node` is not the proof's node."""
    proof, signals = _proof_and_signals(bundle)
    if len(signals) != N_PUBLIC_SIGNALS:
        raise ValueError(f"a v2 efficiency proof has {N_PUBLIC_SIGNALS} public signals, got {len(signals)}")
    words = proof if isinstance(proof, list) else proof_to_calldata(proof)
    node_from_proof = to_checksum_address(int(signals[3]).to_bytes(20, "big"))
    if to_checksum_address(node) != node_from_proof:
        raise ValueError(f"node {node} is not the proof's node {node_from_proof}")
    return {"node": node_from_proof, "epoch": int(signals[2]), "tier": int(tier), "work": signals[1],
            "methods": int(signals[4]), "commitment": signals[5], "proof": [str(int(w)) for w in words],
            "public_signals": signals}


def hand_over(url: str, bundle: Any, *, tier: int, node: str, timeout_s: float = 60.0,
              session: requests.Session | None = None) -> dict[str, Any]:
    """Hand one proof of `node` (the node's address), proved at tier index `tier`, to the relay at `url`
    (e.g. http://127.0.0.1:8600). Returns the relay's record of the item ({"status": "queued" | "batched" |
    "settled" | "failed", "duplicate": bool, "tx_hash", …}); handing the same (node, epoch) over again is safe
    and returns the same record. Raises RelayRefused (do not retry: the proof can never settle as is) or
    RelayUnavailable (retry later; the node keeps the proof until then).

    The timeout covers the relay's proof check (about 2 s per proof with the pure-Python verifier)."""
    body = submission_body(bundle, tier=tier, node=node)
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
