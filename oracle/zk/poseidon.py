"""Poseidon over the BN254 scalar field, exactly as circomlib's circuits and circomlibjs compute it.

The round constants and MDS matrices are circomlibjs's own (node_modules/circomlibjs/src/poseidon_constants.json,
the file its reference implementation loads), so there is one source of truth for them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

from oracle.paths import REPO_ROOT

# BN254 (alt_bn128) scalar field order: circom's prime.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
CONSTANTS_FILE = REPO_ROOT / "node_modules" / "circomlibjs" / "src" / "poseidon_constants.json"
FULL_ROUNDS = 8
# Partial rounds for t = 2..17 (circomlibjs N_ROUNDS_P).
PARTIAL_ROUNDS = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)
MAX_INPUTS = len(PARTIAL_ROUNDS)


@lru_cache(maxsize=None)
def _constants(t: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    raw = _raw_constants()
    c = tuple(int(x, 16) for x in raw["C"][t - 2])
    m = tuple(tuple(int(x, 16) for x in row) for row in raw["M"][t - 2])
    return c, m


@lru_cache(maxsize=1)
def _raw_constants() -> dict:
    if not CONSTANTS_FILE.exists():
        raise FileNotFoundError(f"{CONSTANTS_FILE} is missing: run `make bootstrap` (npm ci)")
    return json.loads(CONSTANTS_FILE.read_text())


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib Poseidon(len(inputs)) of 1..16 field elements."""
    n = len(inputs)
    if not 1 <= n <= MAX_INPUTS:
        raise ValueError(f"Poseidon takes 1 to {MAX_INPUTS} inputs, got {n}")
    p = FIELD_MODULUS
    t = n + 1
    c, m = _constants(t)
    partial = PARTIAL_ROUNDS[t - 2]
    state = [0, *(int(x) % p for x in inputs)]
    for r in range(FULL_ROUNDS + partial):
        state = [(s + c[r * t + i]) % p for i, s in enumerate(state)]
        if r < FULL_ROUNDS // 2 or r >= FULL_ROUNDS // 2 + partial:
            state = [pow(s, 5, p) for s in state]
        else:
            state[0] = pow(state[0], 5, p)
        state = [sum(mij * s for mij, s in zip(row, state)) % p for row in m]
    return state[0]
