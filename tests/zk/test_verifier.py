"""The py_ecc verifier's own pieces: its final exponentiation equals py_ecc's, and a broken key is malformed."""

from __future__ import annotations

import copy

import pytest
from py_ecc.optimized_bn128 import G1, G2, multiply, pairing
from py_ecc.optimized_bn128 import final_exponentiate as py_ecc_final_exponentiate

from oracle.zk import MalformedProof, EfficiencyProofBundle, check
from oracle.zk.verifier import final_exponentiate


def test_final_exponentiation_equals_py_ecc() -> None:
    f = pairing(multiply(G2, 5), multiply(G1, 7), final_exponentiate=False)
    assert final_exponentiate(f) == py_ecc_final_exponentiate(f)
    assert final_exponentiate(f) != final_exponentiate(f * f)


def test_broken_verification_key_is_malformed(vk: dict, bundle: EfficiencyProofBundle) -> None:
    for change in ({"protocol": "plonk"}, {"IC": []}, {"vk_alpha_1": ["1", "3", "1"]}):
        with pytest.raises(MalformedProof):
            check({**copy.deepcopy(vk), **change}, bundle.proof, bundle.public_signals)
    missing = copy.deepcopy(vk)
    del missing["vk_delta_2"]
    with pytest.raises(MalformedProof, match="vk_delta_2"):
        check(missing, bundle.proof, bundle.public_signals)
