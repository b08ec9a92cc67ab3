"""Groth16 verification on py_ecc, independent of snarkjs: checks snarkjs-format proofs against a
snarkjs-format verification key.

Structurally broken input (not JSON of the snarkjs shape, not integers, wrong lengths) raises MalformedProof;
a well-formed proof that does not verify (point off the curve or outside the subgroup, coordinate or public
input not reduced, failed pairing check) gives a reason string / False.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    add,
    b,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    pairing,
)

from eth_utils import keccak

from oracle.conventions import proof_to_calldata
from oracle.zk.artifacts import EFFICIENCY
from oracle.zk.errors import MalformedProof

G1Point = tuple[FQ, FQ, FQ]
G2Point = tuple[FQ2, FQ2, FQ2]


class _Invalid(Exception):
    """A well-formed but invalid proof; the message is the reason."""


def load_verification_key(path: str | Path | None = None) -> dict:
    """A snarkjs verification_key.json (default: the circuit's, circuits/keys/efficiency_verification_key.json)."""
    return _load_json(Path(path) if path is not None else EFFICIENCY.verification_key, "verification key")


def load_json_file(path: str | Path, what: str) -> Any:
    return _load_json(Path(path), what)


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MalformedProof(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedProof(f"cannot read {what} file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise MalformedProof(f"{what} file {path} is not JSON: {exc}") from None


def _int(value: object, what: str) -> int:
    # snarkjs writes every number as a decimal string.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedProof(f"{what} must be a decimal string, got {value!r:.60}")
    text = str(value)
    if not text.isascii() or not text.isdigit():
        raise MalformedProof(f"{what} must be a decimal string, got {text!r:.60}")
    return int(text)


def _list(value: object, length: int, what: str) -> list:
    if not isinstance(value, list) or len(value) != length:
        raise MalformedProof(f"{what} must be a list of {length}")
    return value


def _g1(value: object, what: str) -> G1Point:
    x, y, z = (_int(v, what) for v in _list(value, 3, what))
    if z != 1:
        raise _Invalid(f"{what} is not an affine point (z = {z})")
    if x >= field_modulus or y >= field_modulus:
        raise _Invalid(f"{what} has a coordinate ≥ the base field modulus")
    point = (FQ(x), FQ(y), FQ.one())
    if not is_on_curve(point, b):
        raise _Invalid(f"{what} is not on the BN254 G1 curve")
    return point  # G1 has cofactor 1: on the curve is in the group


def _g2(value: object, what: str) -> G2Point:
    rows = _list(value, 3, what)
    (x0, x1), (y0, y1), (z0, z1) = ((_int(v, what) for v in _list(row, 2, what)) for row in rows)
    if (z0, z1) != (1, 0):
        raise _Invalid(f"{what} is not an affine point (z = [{z0}, {z1}])")
    if max(x0, x1, y0, y1) >= field_modulus:
        raise _Invalid(f"{what} has a coordinate ≥ the base field modulus")
    point = (FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one())
    if not is_on_curve(point, b2):
        raise _Invalid(f"{what} is not on the BN254 G2 twist")
    if not is_inf(multiply(point, curve_order)):
        raise _Invalid(f"{what} is not in the order-r subgroup of G2")
    return point


def _parse_vk(vk: object) -> tuple[G1Point, G2Point, G2Point, G2Point, list[G1Point], FQ12]:
    if not isinstance(vk, dict):
        raise MalformedProof("verification key must be a JSON object")
    return _parse_vk_json(json.dumps(vk, sort_keys=True))


@lru_cache(maxsize=8)
def _parse_vk_json(canonical: str) -> tuple[G1Point, G2Point, G2Point, G2Point, list[G1Point], FQ12]:
    """Parsed, checked key plus the Miller loop of e(alpha, beta), cached: they cost seconds on py_ecc."""
    vk = json.loads(canonical)
    if vk.get("protocol") != "groth16" or vk.get("curve") not in ("bn128", "bn254"):
        raise MalformedProof("verification key is not a groth16 bn128 key")
    try:
        ic = vk["IC"]
        if not isinstance(ic, list) or not ic:
            raise MalformedProof("verification key IC must be a non-empty list")
        alpha, beta = _g1(vk["vk_alpha_1"], "vk_alpha_1"), _g2(vk["vk_beta_2"], "vk_beta_2")
        parsed = (alpha, beta, _g2(vk["vk_gamma_2"], "vk_gamma_2"), _g2(vk["vk_delta_2"], "vk_delta_2"),
                  [_g1(p, f"IC[{i}]") for i, p in enumerate(ic)])
    except KeyError as exc:
        raise MalformedProof(f"verification key has no {exc.args[0]}") from None
    except _Invalid as exc:
        raise MalformedProof(f"verification key is broken: {exc}") from None
    return (*parsed, pairing(beta, alpha, final_exponentiate=False))


def _conjugate(f: FQ12) -> FQ12:
    # In py_ecc's FQ12 = FQ[w]/(w^12 - 18 w^6 + 82), w -> -w is the order-2 automorphism, i.e. f -> f^(p^6).
    return FQ12([c if i % 2 == 0 else -c for i, c in enumerate(f.coeffs)])


@lru_cache(maxsize=1)
def _frobenius2_basis() -> tuple[FQ12, ...]:
    """(w^(p^2))^i for i < 12: f^(p^2) = sum of f's coefficients times these (the coefficients are in FQ)."""
    w_p2 = FQ12([0, 1] + [0] * 10) ** (field_modulus ** 2)
    basis = [FQ12.one()]
    for _ in range(11):
        basis.append(basis[-1] * w_p2)
    return tuple(basis)


_HARD_EXPONENT = (field_modulus ** 4 - field_modulus ** 2 + 1) // curve_order


def final_exponentiate(f: FQ12) -> FQ12:
    """f^((p^12 - 1) / r), as py_ecc's, with the easy part (p^6 - 1)(p^2 + 1) done by automorphisms:
    only the hard part (p^4 - p^2 + 1) / r is a generic power, about a quarter of the full one."""
    g = _conjugate(f) / f  # f^(p^6 - 1)
    basis = _frobenius2_basis()
    g_p2 = FQ12.zero()
    for c, b_i in zip(g.coeffs, basis):
        if c:
            g_p2 += b_i * c
    return (g_p2 * g) ** _HARD_EXPONENT  # g^(p^2 + 1), then the hard part


def _parse_proof(n_public: int, proof: object, public_signals: object,
                 what: str = "") -> tuple[G1Point, G2Point, G1Point, list[int]]:
    """(A, B, C, public inputs) of a snarkjs proof. MalformedProof on a broken shape; _Invalid (the reason)
    when well formed but invalid (point off the curve or outside the subgroup, value not reduced)."""
    if not isinstance(proof, dict):
        raise MalformedProof(f"{what}proof must be a JSON object")
    if proof.get("protocol", "groth16") != "groth16":
        raise MalformedProof(f"{what}proof protocol is {proof.get('protocol')!r}, not groth16")
    if not isinstance(public_signals, (list, tuple)):
        raise MalformedProof(f"{what}public signals must be a JSON list")
    if len(public_signals) != n_public:
        raise MalformedProof(f"{what}expected {n_public} public signals, got {len(public_signals)}")
    signals = [_int(s, f"{what}public signal {i}") for i, s in enumerate(public_signals)]
    for key in ("pi_a", "pi_b", "pi_c"):
        if key not in proof:
            raise MalformedProof(f"{what}proof has no {key}")
    try:
        a = _g1(proof["pi_a"], "pi_a")
        bp = _g2(proof["pi_b"], "pi_b")
        c = _g1(proof["pi_c"], "pi_c")
        for i, s in enumerate(signals):
            if s >= curve_order:
                raise _Invalid(f"public signal {i} is not reduced (≥ the scalar field order r)")
    except MalformedProof as exc:
        raise MalformedProof(f"{what}{exc}") from None
    except _Invalid as exc:
        raise _Invalid(f"{what}{exc}") from None
    return a, bp, c, signals


def check(vk: dict, proof: dict, public_signals: Sequence) -> str | None:
    """None when the proof verifies, else the reason it does not. Raises MalformedProof on malformed input."""
    alpha, beta, gamma, delta, ic, alpha_beta = _parse_vk(vk)
    try:
        a, bp, c, signals = _parse_proof(len(ic) - 1, proof, public_signals)
    except _Invalid as exc:
        return str(exc)

    vk_x = ic[0]
    for s, point in zip(signals, ic[1:]):
        if s:
            vk_x = add(vk_x, multiply(point, s))
    # e(-A, B) · e(alpha, beta) · e(vk_x, gamma) · e(C, delta) == 1, one final exponentiation for all four.
    product = alpha_beta
    for g2, g1 in ((bp, neg(a)), (gamma, vk_x), (delta, c)):
        product *= pairing(g2, g1, final_exponentiate=False)
    if final_exponentiate(product) != FQ12.one():
        return "pairing check failed"
    return None


def verify(vk: dict, proof: dict, public_signals: Sequence) -> bool:
    """True when the Groth16 proof verifies for these public signals under the verification key."""
    return check(vk, proof, public_signals) is None


# --- batch verification ----------------------------------------------------------------------------------------
BATCH_DOMAIN = b"EcoAI.GreenProof.batch.v1"


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _vk_words(vk: dict) -> list[int]:
    alpha, beta, gamma, delta, ic, _ = _parse_vk(vk)
    words = [int(alpha[0]), int(alpha[1])]
    for point in (beta, gamma, delta):
        (x0, x1), (y0, y1) = point[0].coeffs, point[1].coeffs
        words += [int(x1), int(x0), int(y1), int(y0)]
    for point in ic:
        words += [int(point[0]), int(point[1])]
    return words


def vk_hash(vk: dict) -> int:
    """keccak256 of the verification key as abi-encoded uint256 words (what a Solidity verifier holds as
    constants): alpha.x, alpha.y, then beta, gamma, delta each as x.c1, x.c0, y.c1, y.c0 (EIP-197 order), then
    IC[0].x, IC[0].y, …, IC[n].x, IC[n].y (n = number of public inputs): 2 + 12 + 2(n + 1) words."""
    return int.from_bytes(keccak(b"".join(_word(w) for w in _vk_words(vk))), "big")


def batch_transcript(vk: dict, proofs_and_signals: Sequence[tuple[dict, Sequence]]) -> bytes:
    """The Fiat–Shamir preimage of batch_weights (see there), as bytes. Values are taken as given (a proof
    with coordinates ≥ q or inputs ≥ r is refused by batch_check before its weights matter)."""
    n_public = len(vk.get("IC", [])) - 1 if isinstance(vk, dict) else 0
    words = [int.from_bytes(keccak(BATCH_DOMAIN), "big"), vk_hash(vk)]
    for i, (proof, signals) in enumerate(proofs_and_signals):
        what = f"proof {i}: "
        if not isinstance(proof, dict) or not isinstance(signals, (list, tuple)) or len(signals) != n_public:
            raise MalformedProof(f"{what}expected a proof object and {n_public} public signals")
        try:
            calldata = proof_to_calldata(proof)
        except (KeyError, IndexError, TypeError, ValueError):
            raise MalformedProof(f"{what}proof is not a snarkjs groth16 proof") from None
        words += calldata + [_int(s, f"{what}public signal {j}") for j, s in enumerate(signals)]
    for w in words:
        if not 0 <= w < 1 << 256:
            raise MalformedProof("a proof word or public input does not fit in a uint256")
    return b"".join(_word(w) for w in words)


def batch_seed(vk: dict, proofs_and_signals: Sequence[tuple[dict, Sequence]]) -> int:
    """keccak256 of the batch transcript (batch_transcript), as a uint256: the one hash of the whole batch that
    every weight derives from."""
    return int.from_bytes(keccak(batch_transcript(vk, proofs_and_signals)), "big")


def batch_weights(vk: dict, proofs_and_signals: Sequence[tuple[dict, Sequence]]) -> list[int]:
    """The random-linear-combination weights of a batch, by Fiat–Shamir (never time or OS randomness).

    Transcript = the abi encoding (32-byte big-endian uint256 words, no length prefixes) of
        keccak256("EcoAI.GreenProof.batch.v1")          domain word (the 25 ASCII bytes of the tag)
        vk_hash(vk)                                      the verification key (see vk_hash)
        for each proof i = 0 … n-1, in batch order:
            a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y   its 8 calldata words (G2 as [c1, c0])
            input[0], …, input[m-1]                              its m public inputs
    seed = keccak256(transcript) (batch_seed), hashed once per batch; then
    weight_i = uint256(keccak256(seed ‖ uint256(i))) mod r, for every i including 0 (no weight is fixed to 1),
    r the BN254 scalar field order; a weight that reduces to 0 (probability 2^-254) is replaced by 1. The seed
    depends on every word of the batch, so every weight changes when any proof word or input (or the order)
    does, and no weight can be known before the whole batch is fixed. Hashing is O(n): one pass over the
    transcript plus one 64-byte keccak per proof.
    In Solidity: `bytes32 seed = keccak256(transcript); uint256(keccak256(abi.encode(seed, i))) % R`.
    """
    seed = _word(batch_seed(vk, proofs_and_signals))
    weights = []
    for i in range(len(proofs_and_signals)):
        w = int.from_bytes(keccak(seed + _word(i)), "big") % curve_order
        weights.append(w or 1)
    return weights


def batch_check(vk: dict, proofs_and_signals: Sequence[tuple[dict, Sequence]]) -> str | None:
    """None when every (proof, public_signals) of the batch verifies under `vk`, else the reason the batch
    does not (a pairing failure cannot say which proof). Raises MalformedProof on malformed input or an
    empty batch.

    n proofs, one multi-pairing of n + 3 pairs with weights ρ_i (batch_weights):
        Π_i e(-ρ_i·A_i, B_i) · e((Σρ_i)·alpha, beta) · e(Σ_i ρ_i·vk_x_i, gamma) · e((Σ_i ρ_i·C_i), delta) == 1,
    where Σ_i ρ_i·vk_x_i = (Σρ_i)·IC[0] + Σ_j (Σ_i ρ_i·input_i[j])·IC[j+1]. A batch with any invalid proof
    passes only with negligible probability: the weights are a hash of every proof word and input (and the key),
    so they are fixed only once the whole batch is, and an invalid proof's error term survives a random weight.
    """
    alpha, beta, gamma, delta, ic, _ = _parse_vk(vk)
    if not isinstance(proofs_and_signals, (list, tuple)) or not proofs_and_signals:
        raise MalformedProof("a batch needs at least one (proof, public signals) pair")
    parsed = []
    for i, item in enumerate(proofs_and_signals):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise MalformedProof(f"batch item {i} must be a (proof, public signals) pair")
        try:
            parsed.append(_parse_proof(len(ic) - 1, item[0], item[1], what=f"proof {i}: "))
        except _Invalid as exc:
            return str(exc)
    weights = batch_weights(vk, proofs_and_signals)

    total = sum(weights) % curve_order
    ic_scalars = [total] + [0] * (len(ic) - 1)
    c_sum = None
    product = FQ12.one()
    for rho, (a, bp, c, signals) in zip(weights, parsed):
        for j, s in enumerate(signals):
            ic_scalars[j + 1] = (ic_scalars[j + 1] + rho * s) % curve_order
        c_sum = add(c_sum, multiply(c, rho)) if c_sum is not None else multiply(c, rho)
        product *= pairing(bp, neg(multiply(a, rho)), final_exponentiate=False)
    vk_x = None
    for scalar, point in zip(ic_scalars, ic):
        if scalar:
            term = multiply(point, scalar)
            vk_x = term if vk_x is None else add(vk_x, term)
    for g2, g1 in ((beta, multiply(alpha, total)), (gamma, vk_x), (delta, c_sum)):
        if g1 is not None and not is_inf(g1):
            product *= pairing(g2, g1, final_exponentiate=False)
    if final_exponentiate(product) != FQ12.one():
        return "batch pairing check failed (at least one proof is invalid)"
    return None


def batch_verify(vk: dict, proofs_and_signals: Sequence[tuple[dict, Sequence]]) -> bool:
    """True when every proof of the batch verifies under `vk` (batch_check)."""
    return batch_check(vk, proofs_and_signals) is None
