"""Property tests: no random tampering of a real proof or its public inputs is ever accepted, neither by the
verifier alone nor by GreenProof.submit (both read through eth_call, so nothing is mined)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_ecc.bn128 import field_modulus as Q

from oracle.conventions import SNARK_SCALAR_FIELD as R

pytestmark = pytest.mark.chain

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A change to one 256-bit word: add a small delta, add r or q (aliasing: the same field element as a different
# uint256), or set a random field-sized value or any uint256.
words = st.one_of(
    st.integers(-3, 3).map(lambda d: ("add", d)),
    st.sampled_from([("add", R), ("add", Q), ("add", 2**256 - R)]),
    st.integers(0, Q - 1).map(lambda v: ("set", v)),
    st.integers(0, 2**256 - 1).map(lambda v: ("set", v)),
)


@pytest.fixture(scope="module")
def contracts(module_stack, proofs):
    """web3.py GreenProof and verifier functions (deployment ABIs), with the chain inside the proofs' window."""
    module_stack.mine_at(proofs.submit_time)
    return module_stack.wgreen, module_stack.deployment.verifier(module_stack.w3).functions, module_stack.node


def _replace(values: list[int], index: int, change: tuple[str, int]) -> list[int]:
    """`values` with word `index` changed (mod 2^256, as the EVM sees it)."""
    kind, value = change
    changed = list(values)
    changed[index] = (values[index] + value if kind == "add" else value) % 2**256
    return changed


def _verifies(verifier, epoch_proof, proof=None, inputs=None) -> bool:
    return verifier.verifyProof(*epoch_proof.verifier_args(proof=proof, inputs=inputs)).call()


def test_the_untampered_proof_is_accepted(contracts, proofs):
    """The baseline the properties below are measured against: the real submission passes eth_call."""
    green, verifier, node = contracts
    first = proofs.first
    assert _verifies(verifier, first)
    green.submit(*first.submit_args()).call({"from": node.address})


@pytest.mark.parametrize("part", ["proof", "inputs"])  # the 8 proof words, the 6 public inputs
@SETTINGS
@given(index=st.integers(0, 7), word=words)
def test_a_tampered_proof_word_or_public_input_never_verifies(contracts, proofs, part, index, word):
    green, verifier, node = contracts
    original = getattr(proofs.first, part)
    tampered = _replace(original, index % len(original), word)
    if tampered != original:
        assert not _verifies(verifier, proofs.first, **{part: tampered})


@SETTINGS
@given(proof_index=st.one_of(st.none(), st.integers(0, 7)), proof_word=words,
       commitment=st.one_of(st.none(), words), tier=st.integers(0, 255), epoch_shift=st.integers(-3, 3),
       work_shift=st.integers(-2, 2), methods=st.sampled_from([0, 1, 0x10, 0x22, 3, 255]))
def test_no_tampered_submission_is_accepted(contracts, proofs, proof_index, proof_word, commitment, tier,
                                            epoch_shift, work_shift, methods):
    from web3.exceptions import ContractLogicError

    green, verifier, node = contracts
    first = proofs.first
    proof = first.proof if proof_index is None else _replace(first.proof, proof_index, proof_word)
    commit = first.commitment if commitment is None else _replace([first.commitment], 0, commitment)[0]
    epoch = first.epoch + epoch_shift
    work = first.work + work_shift
    args = first.submit_args(epoch=epoch, tier=tier, work=work, methods=methods, commitment=commit, proof=proof)
    if args == first.submit_args():
        return
    with pytest.raises(ContractLogicError):  # ContractCustomError is one
        green.submit(*args).call({"from": node.address})
