"""Batch verification (oracle.zk.verifier.batch_check): n proofs, one multi-pairing of n + 3 pairs with
Fiat–Shamir weights; and `ecoai verify --batch`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from eth_utils import keccak
from py_ecc.optimized_bn128 import curve_order, field_modulus

from oracle.app.cli import main
from oracle.conventions import SNARK_SCALAR_FIELD, calldata_to_proof, proof_to_calldata
from oracle.zk import MalformedProof, Prover
from oracle.zk.verifier import (
    BATCH_DOMAIN,
    batch_check,
    batch_seed,
    batch_transcript,
    batch_verify,
    batch_weights,
    check,
    vk_hash,
)

from .conftest import efficiency_epoch

N_V2 = 4


@pytest.fixture(scope="module")
def v2_batch(prover: Prover, bundle) -> list[tuple[dict, list[str]]]:
    pairs = [(bundle.proof, bundle.public_signals)]
    for k in range(1, N_V2):
        e = efficiency_epoch(100 + k, epoch=1000 + k, methods=(0x00, 0x01, 0x12, 0x22)[k % 4])
        b = prover.prove_efficiency(e.energy, e.work, e.salt, e.tier, e.epoch, e.node, e.methods)
        pairs.append((b.proof, b.public_signals))
    return pairs


def test_a_batch_of_valid_proofs_verifies(vk: dict, v2_batch) -> None:
    assert batch_check(vk, v2_batch) is None
    assert batch_verify(vk, v2_batch[:1])  # a batch of one
    assert batch_verify(vk, v2_batch + v2_batch[:1])  # the same proof twice is still valid
    assert all(check(vk, p, s) is None for p, s in v2_batch)


def _with_word(pair, index: int, value: int):
    words = proof_to_calldata(pair[0])
    words[index] = value
    return calldata_to_proof(words), pair[1]


def test_one_tampered_element_fails_the_whole_batch(vk: dict, v2_batch) -> None:
    last = len(v2_batch) - 1
    cases = {}
    for i in range(6):  # a public input + 1 (still a field element)
        signals = list(v2_batch[last][1])
        signals[i] = str((int(signals[i]) + 1) % SNARK_SCALAR_FIELD)
        cases[f"input {i}"] = (v2_batch[last][0], signals)
    a_x, a_y = proof_to_calldata(v2_batch[1][0])[:2]
    cases["A negated (on the curve, wrong)"] = _with_word(v2_batch[1], 1, field_modulus - a_y)
    c_words = proof_to_calldata(v2_batch[2][0])
    cases["C of another proof"] = _with_word(v2_batch[2], 6, proof_to_calldata(v2_batch[0][0])[6])
    cases["C of another proof"] = _with_word(cases["C of another proof"], 7, proof_to_calldata(v2_batch[0][0])[7])
    cases["proof of another epoch"] = (v2_batch[0][0], v2_batch[2][1])
    for name, tampered in cases.items():
        batch = list(v2_batch)
        batch[last if name.startswith("input") else 2 if "C" in name or "epoch" in name else 1] = tampered
        reason = batch_check(vk, batch)
        assert reason is not None and "pairing" in reason, name
        assert not batch_verify(vk, batch)
    assert c_words  # the untampered batch object was not mutated
    assert batch_verify(vk, v2_batch)


def test_an_invalid_point_or_unreduced_input_names_the_proof(vk: dict, v2_batch) -> None:
    batch = list(v2_batch)
    batch[2] = _with_word(v2_batch[2], 0, proof_to_calldata(v2_batch[2][0])[0] + 1)  # A off the curve
    assert batch_check(vk, batch).startswith("proof 2: pi_a is not on the BN254 G1 curve")
    signals = list(v2_batch[3][1])
    signals[5] = str(int(signals[5]) + SNARK_SCALAR_FIELD)  # an alias of the commitment
    assert batch_check(vk, [*v2_batch[:3], (v2_batch[3][0], signals)]).startswith(
        "proof 3: public signal 5 is not reduced")
    bad_b = copy.deepcopy(v2_batch[0][0])
    bad_b["pi_b"][0][0] = str(int(bad_b["pi_b"][0][0]) + 1)
    assert "proof 0: pi_b" in batch_check(vk, [(bad_b, v2_batch[0][1]), *v2_batch[1:]])


def test_malformed_batches_raise(vk: dict, v2_batch) -> None:
    with pytest.raises(MalformedProof, match="at least one"):
        batch_check(vk, [])
    with pytest.raises(MalformedProof, match="expected 6 public signals"):
        batch_check(vk, [*v2_batch, (v2_batch[0][0], v2_batch[0][1][:4])])
    with pytest.raises(MalformedProof, match="pair"):
        batch_check(vk, [v2_batch[0][0]])
    with pytest.raises(MalformedProof, match="proof 1: proof has no pi_c"):
        batch_check(vk, [v2_batch[0], ({"pi_a": v2_batch[0][0]["pi_a"], "pi_b": v2_batch[0][0]["pi_b"]},
                                           v2_batch[0][1])])


def test_the_transcript_is_the_documented_abi_encoding(vk: dict, v2_batch) -> None:
    preimage = batch_transcript(vk, v2_batch)
    words = [int.from_bytes(preimage[k:k + 32], "big") for k in range(0, len(preimage), 32)]
    assert len(words) == 2 + len(v2_batch) * (8 + 6)
    assert words[0] == int.from_bytes(keccak(b"EcoAI.GreenProof.batch.v1"), "big")
    assert BATCH_DOMAIN == b"EcoAI.GreenProof.batch.v1"
    assert words[1] == vk_hash(vk)
    for i, (proof, signals) in enumerate(v2_batch):
        assert words[2 + 14 * i: 2 + 14 * (i + 1)] == proof_to_calldata(proof) + [int(s) for s in signals]
    # vk_hash: alpha, beta/gamma/delta as x.c1, x.c0, y.c1, y.c0, then IC points.
    vk_words = [int(vk["vk_alpha_1"][0]), int(vk["vk_alpha_1"][1])]
    for name in ("vk_beta_2", "vk_gamma_2", "vk_delta_2"):
        (x0, x1), (y0, y1) = vk[name][0], vk[name][1]
        vk_words += [int(x1), int(x0), int(y1), int(y0)]
    for point in vk["IC"]:
        vk_words += [int(point[0]), int(point[1])]
    assert vk_hash(vk) == int.from_bytes(keccak(b"".join(w.to_bytes(32, "big") for w in vk_words)), "big")
    weights = batch_weights(vk, v2_batch)
    seed = keccak(preimage)  # the whole transcript is hashed once; each weight hashes (seed, i): O(n) in all
    assert batch_seed(vk, v2_batch) == int.from_bytes(seed, "big")
    for i, w in enumerate(weights):
        assert w == int.from_bytes(keccak(seed + i.to_bytes(32, "big")), "big") % curve_order
    assert len(set(weights)) == len(weights)


def test_weights_change_when_any_proof_word_or_input_changes(vk: dict, v2_batch) -> None:
    base = batch_weights(vk, v2_batch)
    for k in (0, len(v2_batch) - 1):
        for index in range(8):
            batch = list(v2_batch)
            batch[k] = _with_word(v2_batch[k], index, proof_to_calldata(v2_batch[k][0])[index] + 1)
            changed = batch_weights(vk, batch)
            assert all(a != b for a, b in zip(base, changed)), (k, index)
        for index in range(6):
            signals = list(v2_batch[k][1])
            signals[index] = str(int(signals[index]) + 1)
            changed = batch_weights(vk, [*v2_batch[:k], (v2_batch[k][0], signals), *v2_batch[k + 1:]])
            assert all(a != b for a, b in zip(base, changed)), (k, "input", index)
    reordered = batch_weights(vk, [v2_batch[1], v2_batch[0], *v2_batch[2:]])
    assert reordered != base
    other_key = copy.deepcopy(vk)
    other_key["IC"][1], other_key["IC"][2] = other_key["IC"][2], other_key["IC"][1]
    assert vk_hash(other_key) != vk_hash(vk)
    assert all(a != b for a, b in zip(base, batch_weights(other_key, v2_batch)))
    assert batch_weights(vk, v2_batch) == base  # deterministic


def _write_pair(folder: Path, pair) -> Path:
    folder.mkdir(parents=True)
    (folder / "proof.json").write_text(json.dumps(pair[0]))
    (folder / "public.json").write_text(json.dumps(pair[1]))
    return folder


def test_cli_verify_batch(tmp_path: Path, v2_batch, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = [str(_write_pair(tmp_path / f"p{i}", pair)) for i, pair in enumerate(v2_batch)]
    assert main(["verify", "--batch", *dirs]) == 0
    assert capsys.readouterr().out.strip() == f"valid: {len(dirs)} proofs"
    pairs = [f"{d}/proof.json,{d}/public.json" for d in dirs]  # PROOF.json,PUBLIC.json items
    assert main(["verify", "--batch", *pairs]) == 0
    assert main(["verify", dirs[0] + "/proof.json", dirs[0] + "/public.json"]) == 0
    short = _write_pair(tmp_path / "short", (v2_batch[0][0], v2_batch[0][1][:4]))
    capsys.readouterr()

    signals = list(v2_batch[1][1])
    signals[4] = str(int(signals[4]) + 1)  # another methods code than the one proved
    (Path(dirs[1]) / "public.json").write_text(json.dumps(signals))
    assert main(["verify", "--batch", *dirs]) == 1
    assert capsys.readouterr().out.startswith("invalid: batch pairing check failed")

    for args in (["--batch", dirs[0], str(short)],  # 4 public signals: not a proof of this circuit
                 ["--batch", str(tmp_path / "nothing")],
                 ["--batch", dirs[0], str(tmp_path / "missing.json") + "," + str(tmp_path / "x.json")],
                 [dirs[0] + "/proof.json", dirs[0] + "/public.json", "--batch", dirs[0]],
                 [dirs[0] + "/proof.json"]):
        assert main(["verify", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("ecoai verify: error: ") and err.count("\n") == 1, err
