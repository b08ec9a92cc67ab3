#!/usr/bin/env python3
"""Python Groth16 verification, one at a time against batched (oracle.zk.verifier.batch_check: one multi-pairing
of n + 3 pairs with Fiat–Shamir weights), on real efficiency proofs made in the same run.

    .venv/bin/python bench/batch_verify.py [--n 32]

The proofs are of synthetic epochs (pseudo-random energy and work exactly at their tier), not measurements.
Both timings exclude parsing the verification key (cached after the first use) and include everything else
(point and subgroup checks, the weights' keccak transcript for the batch). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.zk import Prover, check, load_verification_key  # noqa: E402
from oracle.zk.verifier import batch_check  # noqa: E402

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _efficiency_epoch(rng: random.Random) -> tuple[list[int], list[int], int]:
    work = [rng.randrange(1, 50_000) for _ in range(64)]
    tier = 1_000 * rng.randrange(1, 4_000)
    target = tier * sum(work) // 1000
    energy = [rng.randrange(0, target // 80 + 1) for _ in range(63)]
    energy.append(target - sum(energy))
    return energy, work, tier


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="proofs in the batch (default 32)")
    args = parser.parse_args()
    rng = random.Random(2026)
    pairs = []
    started = time.perf_counter()
    with Prover() as prover:
        for k in range(args.n):
            energy, work, tier = _efficiency_epoch(rng)
            b = prover.prove_efficiency(energy, work, rng.randrange(1 << 250), tier, 1000 + k, NODE, k % 3)
            pairs.append((b.proof, b.public_signals))
    prove_s = time.perf_counter() - started
    vk = load_verification_key()
    check(vk, *pairs[0])  # parse and cache the key outside the timings

    started = time.perf_counter()
    assert all(check(vk, proof, signals) is None for proof, signals in pairs)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    assert batch_check(vk, pairs) is None
    batch_s = time.perf_counter() - started

    n = args.n
    print(f"circuit efficiency: {n} proofs made in {prove_s:.1f} s ({prove_s / n:.2f} s per proof)")
    print(f"python verify, one at a time: {single_s:.2f} s total, {1000 * single_s / n:.0f} ms per proof")
    print(f"python batch_check (n = {n}, {n + 3} pairs): {batch_s:.2f} s total, {1000 * batch_s / n:.0f} ms "
          f"per proof  ({single_s / batch_s:.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
