"""Python Poseidon and the commitment chain equal circomlibjs (one Node run for all cases)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from oracle.zk import efficiency_commitment
from oracle.zk.poseidon import FIELD_MODULUS, poseidon

REFERENCE = Path(__file__).with_name("poseidon_reference.mjs")
NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_poseidon_and_commitment_match_circomlibjs() -> None:
    rng = random.Random(7)
    hashes = [[rng.randrange(FIELD_MODULUS) for _ in range(width)] for width in range(1, 17)]
    hashes += [[0] * 16, [FIELD_MODULUS - 1, 1 << 32, 0]]
    commitments = [
        {"energy": [rng.randrange(1 << 32) for _ in range(64)], "work": [rng.randrange(1 << 32) for _ in range(64)],
         "salt": rng.randrange(FIELD_MODULUS), "node": int(NODE, 16), "epoch": 29_427_000},
        {"energy": [0] * 64, "work": [0] * 64, "salt": 0, "node": 0, "epoch": 0},
    ]
    request = {"hashes": [[str(x) for x in xs] for xs in hashes],
               "commitments": [{**c, "energy": [str(v) for v in c["energy"]], "work": [str(v) for v in c["work"]],
                                "salt": str(c["salt"]), "node": str(c["node"]), "epoch": str(c["epoch"])}
                               for c in commitments]}
    proc = subprocess.run(["node", str(REFERENCE)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=60, check=True)
    reference = json.loads(proc.stdout)

    assert [str(poseidon(xs)) for xs in hashes] == reference["hashes"]
    assert [str(efficiency_commitment(c["energy"], c["work"], c["salt"], c["node"], c["epoch"]))
            for c in commitments] == reference["commitments"]
    # The node may be given as its address string.
    first = commitments[0]
    assert str(efficiency_commitment(first["energy"], first["work"], first["salt"], NODE, first["epoch"])) \
        == reference["commitments"][0]


def test_poseidon_rejects_widths_circomlib_lacks() -> None:
    with pytest.raises(ValueError):
        poseidon([])
    with pytest.raises(ValueError):
        poseidon(list(range(17)))


def test_commitment_takes_numpy_integers() -> None:
    np = pytest.importorskip("numpy")
    energy, work = list(range(1_000, 1_064)), list(range(64))
    assert efficiency_commitment(np.array(energy, dtype=np.int64), np.array(work, dtype=np.uint32), 5, NODE,
                                 np.uint64(9)) == efficiency_commitment(energy, work, 5, NODE, 9)
