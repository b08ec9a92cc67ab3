"""Batch settlement on anvil with real proofs: GreenProof.submitBatch and Groth16Verifier.verifyBatch (one
multi-pairing of n + 3 pairs, Fiat–Shamir weights identical to oracle.zk.verifier.batch_weights)."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_ecc.bn128 import field_modulus as Q

from oracle.conventions import SNARK_SCALAR_FIELD as R
from oracle.conventions import calldata_to_proof, efficiency_credits_wei
from oracle.zk.artifacts import EFFICIENCY
from oracle.zk.verifier import batch_weights, vk_hash
from tests.contracts.conftest import BASELINE, EPOCH_S, FLEET, FLEET_BENEFICIARIES, MAX_UNITS_PER_SECOND

pytestmark = pytest.mark.chain

VK = json.loads(EFFICIENCY.verification_key.read_text())
SUBMISSION = "(address,uint64,uint8,uint64,uint8,uint256,uint256[8])"


def _pairs(items):
    """(snarkjs proof, public signals) pairs for the Python verifier, from (proof words, inputs)."""
    return [(calldata_to_proof(p), [str(x) for x in i]) for p, i in items]


def _credit(work: int) -> int:
    return efficiency_credits_wei(BASELINE, 900, work, MAX_UNITS_PER_SECOND, EPOCH_S)


def test_verifier_embeds_the_python_vk_hash_and_domain(module_stack):
    v = module_stack.wverifier
    assert v.VK_HASH().call() == vk_hash(VK)
    assert v.BATCH_DOMAIN().call() == int.from_bytes(keccak(b"EcoAI.GreenProof.batch.v1"), "big")


def test_weights_are_the_python_fiat_shamir_weights_and_change_with_every_word(module_stack, proofs):
    v = module_stack.wverifier
    batch = proofs.fleet[:3]
    words = [(list(p.proof), list(p.inputs)) for p in batch]
    on_chain = v.batchWeights([w[0] for w in words], [w[1] for w in words]).call()
    assert on_chain == batch_weights(VK, _pairs(words))
    # seed = keccak256(transcript) once, weight_i = keccak256(seed ‖ i) mod r: O(n) hashing.
    transcript = encode(["uint256"] * (2 + 14 * 3), [v.BATCH_DOMAIN().call(), v.VK_HASH().call(),
                                                     *(x for p, i in words for x in (*p, *i))])
    seed = keccak(transcript)
    assert on_chain == [int.from_bytes(keccak(seed + encode(["uint256"], [i])), "big") % R for i in range(3)]
    assert len(set(on_chain)) == 3 and all(0 < w < R for w in on_chain)
    # Any proof word or input of any item changes every weight (no weight can be known before the batch is fixed).
    for item in range(3):
        for part, size in ((0, 8), (1, 6)):
            for index in range(size):
                changed = [(list(p), list(i)) for p, i in words]
                changed[item][part][index] += 1
                w = v.batchWeights([c[0] for c in changed], [c[1] for c in changed]).call()
                assert w == batch_weights(VK, _pairs(changed))
                assert all(a != b for a, b in zip(w, on_chain)), (item, part, index)
    # And the order of the batch.
    swapped = v.batchWeights([words[1][0], words[0][0], words[2][0]], [words[1][1], words[0][1], words[2][1]]).call()
    assert swapped[0] != on_chain[1]


def test_verify_batch_accepts_valid_proofs_and_refuses_one_corrupted_element(module_stack, proofs):
    v = module_stack.wverifier
    batch = [(list(p.proof), list(p.inputs)) for p in proofs.fleet]
    assert v.verifyBatch([b[0] for b in batch], [b[1] for b in batch]).call()
    assert v.verifyBatch([batch[0][0]], [batch[0][1]]).call()
    # Non-zero methods codes (the methods column's ecMul is skipped only when its weighted sum is 0).
    mixed = batch[:2] + [(list(proofs.replayed.proof), list(proofs.replayed.inputs))]
    assert v.verifyBatch([b[0] for b in mixed], [b[1] for b in mixed]).call()
    assert not v.verifyBatch([b[0] for b in mixed], [b[1][:4] + [0] + b[1][5:] for b in mixed]).call()
    assert not v.verifyBatch([], []).call()
    assert not v.verifyBatch([batch[0][0]], []).call()
    for item, part, index, delta in ((0, 0, 0, 1), (3, 0, 3, 1), (5, 0, 7, Q), (2, 1, 1, 1), (4, 1, 5, R),
                                     (1, 1, 3, 1)):
        bad = [(list(p), list(i)) for p, i in batch]
        bad[item][part][index] = (bad[item][part][index] + delta) % 2**256
        assert not v.verifyBatch([b[0] for b in bad], [b[1] for b in bad]).call(), (item, part, index)
    # Two invalid proofs crafted to cancel under fixed weights do not cancel under Fiat–Shamir weights:
    # swap the C points of two proofs.
    bad = [(list(p), list(i)) for p, i in batch]
    bad[0][0][6:8], bad[1][0][6:8] = batch[1][0][6:8], batch[0][0][6:8]
    assert not v.verifyBatch([b[0] for b in bad], [b[1] for b in bad]).call()


def test_a_batch_from_several_nodes_relayed_by_a_third_account_credits_each_beneficiary(stack, proofs):
    s = stack
    s.mine_at(proofs.submit_time)
    items = [p.item() for p in proofs.fleet] + [proofs.first.item()]
    relayer_before = s.green.accrued(s.outsider.address)
    receipt = s.green.submitBatch(items, sender=s.outsider)
    events = receipt.decode_logs(s.green.EpochProved)
    assert [(e.node, e.epoch) for e in events] == [(p.node, p.epoch) for p in proofs.fleet + [proofs.first]]
    [settled] = receipt.decode_logs(s.green.BatchSettled)
    assert settled.relayer == s.outsider.address and settled.count == 7
    assert settled.batchHash == keccak(encode([SUBMISSION + "[]"], [items])[64:])
    per_epoch = _credit(32_000)
    # Beneficiary 7 gets fleet node 4's two epochs; beneficiary 8 fleet nodes 5 and 6's four; 2 the node's one.
    assert s.green.accrued(s.account(FLEET_BENEFICIARIES[0]).address) == 2 * per_epoch
    assert s.green.accrued(s.account(FLEET_BENEFICIARIES[1]).address) == 4 * per_epoch
    assert s.green.accrued(s.beneficiary.address) == per_epoch
    assert s.green.accrued(s.outsider.address) == relayer_before == 0  # the relayer earns nothing
    # One acceptance word holds the fleet's epoch E (node indices 2..4, admitted after the node's 1): one write.
    words = {tuple(s.green.acceptedWord(p.node, p.epoch)) for p in proofs.fleet if p.epoch == proofs.fleet[0].epoch}
    [word] = {w for w, _ in words}
    assert len(words) == 3 and all(word >> bit & 1 for _, bit in words)
    for p in proofs.fleet:
        assert s.green.isAccepted(p.node, p.epoch)
    s.green.claim(sender=s.account(8))
    assert s.credit.balanceOf(s.account(8).address) == 4 * per_epoch
    assert FLEET == (4, 5, 6)


def test_one_bad_item_rejects_the_whole_batch_with_the_reason(stack, proofs):
    s = stack
    g = s.wgreen
    s.mine_at(proofs.submit_time)
    good = [p.item() for p in proofs.fleet]
    relayer = s.outsider

    def with_item(i, item):
        return good[:i] + [item] + good[i + 1:]

    f = proofs.fleet
    s.rejects("EmptyBatch", g.submitBatch([]), relayer)
    tampered = f[2].item(work=f[2].work + 1)
    s.rejects("InvalidBatchProof", g.submitBatch(with_item(2, tampered)), relayer)
    invalid = list(f[3].proof)
    invalid[0] = (invalid[0] + 1) % Q
    s.rejects("InvalidBatchProof", g.submitBatch(with_item(3, f[3].item(proof=invalid))), relayer)
    aliased = f[1].item(commitment=f[1].commitment + R)
    s.rejects("InputNotInField", g.submitBatch(with_item(1, aliased)), relayer, value=f[1].commitment + R)
    s.rejects("DuplicateInBatch", g.submitBatch(good + [good[4]]), relayer, node=f[4].node, epoch=f[4].epoch)
    # Adjacent (the same pending bitmap word) and apart (the word already written back).
    s.rejects("DuplicateInBatch", g.submitBatch([good[0], good[0]]), relayer, node=f[0].node, epoch=f[0].epoch)
    s.rejects("DuplicateInBatch", g.submitBatch([good[0], good[2], good[1], good[0]]), relayer, node=f[0].node,
              epoch=f[0].epoch)
    # Relayed under another node's name: the proof binds its node, so it fails (and could only credit that node).
    s.rejects("InvalidBatchProof", g.submitBatch(with_item(0, f[0].item(node=proofs.node))), relayer)
    s.rejects("UnknownTier", g.submitBatch(with_item(5, f[5].item(tier=9))), relayer, tier=9)
    s.rejects("NodeNotActive", g.submitBatch(with_item(0, f[0].item(node=relayer.address))), relayer,
              node=relayer.address)
    # Replayed: one item already accepted (by its node's single submit).
    s.green.submit(*f[4].submit_args(), sender=s.account(6))
    s.rejects("EpochAlreadyProved", g.submitBatch(good), relayer, node=f[4].node, epoch=f[4].epoch)
    rest = good[:4] + good[5:]
    s.green.submitBatch(rest, sender=relayer)
    s.rejects("EpochAlreadyProved", g.submitBatch(rest[:1]), relayer)
    # Nothing of a refused batch stuck: exactly the accepted epochs are marked.
    assert all(s.green.isAccepted(p.node, p.epoch) for p in f)


def test_a_refused_batch_leaves_no_trace(stack, proofs):
    s = stack
    s.mine_at(proofs.submit_time)
    items = [p.item() for p in proofs.fleet]
    bad = list(items)
    bad[5] = proofs.fleet[5].item(work=1)
    from ape.exceptions import ContractLogicError

    with pytest.raises(ContractLogicError):
        s.green.submitBatch(bad, sender=s.outsider)
    assert not any(s.green.isAccepted(p.node, p.epoch) for p in proofs.fleet)
    assert s.green.accrued(s.account(7).address) == 0


words = st.one_of(st.integers(1, 3), st.sampled_from([R, Q, 2**255]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_batches_with_one_corrupted_element_never_pass(module_stack, proofs, data):
    """Random non-empty subsets and orders of the valid proofs, one word (proof word, work, epoch, commitment,
    methods, tier, node) corrupted: submitBatch (eth_call) never accepts, verifyBatch never says true."""
    from web3.exceptions import ContractLogicError

    s = module_stack
    if s.now() < proofs.submit_time:
        s.mine_at(proofs.submit_time)
    pool = proofs.fleet + [proofs.first, proofs.second]
    order = data.draw(st.permutations(range(len(pool))))
    n = data.draw(st.integers(1, len(pool)))
    chosen = [pool[i] for i in order[:n]]
    victim = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["proof", "work", "epoch", "commitment", "methods", "tier", "node"]))
    delta = data.draw(words)
    p = chosen[victim]
    if field == "proof":
        index = data.draw(st.integers(0, 7))
        proof = list(p.proof)
        proof[index] = (proof[index] + delta) % 2**256
        bad = p.item(proof=proof)
        bad_words = (proof, list(p.inputs))
    elif field == "node":
        bad = p.item(node=pool[(order[0] + 1) % len(pool)].node if pool[(order[0] + 1) % len(pool)].node != p.node
                     else s.outsider.address)
        bad_words = None
    else:
        limit = {"work": 2**64, "epoch": 2**64, "methods": 2**8, "tier": 2**8, "commitment": 2**256}[field]
        value = (getattr(p, field) + delta) % limit
        if value == getattr(p, field):
            value = (value + 1) % limit
        bad = p.item(**{field: value})
        bad_words = None
    items = [q.item() for q in chosen]
    items[victim] = bad
    with pytest.raises(ContractLogicError):
        s.wgreen.submitBatch(items).call({"from": s.outsider.address})
    if bad_words is not None:
        proofs_w = [list(q.proof) for q in chosen]
        inputs_w = [list(q.inputs) for q in chosen]
        proofs_w[victim], inputs_w[victim] = bad_words
        assert not s.wverifier.verifyBatch(proofs_w, inputs_w).call()


def test_one_nodes_queue_settles_in_one_batch_with_one_bitmap_word_and_one_accrual(stack, proofs):
    """A node's own queue (consecutive epochs of one node, mixed methods): every epoch accepted, credits summed,
    the bitmap word written once with every bit; then a later batch of the node finds them in storage."""
    s = stack
    s.mine_at(proofs.submit_time)
    queue = [proofs.first, proofs.second, proofs.replayed]
    receipt = s.green.submitBatch([p.item() for p in queue], sender=s.outsider)
    assert [e.epoch for e in receipt.decode_logs(s.green.EpochProved)] == [p.epoch for p in queue]
    assert s.green.accrued(s.beneficiary.address) == 3 * _credit(32_000)
    for p in queue:
        assert s.green.isAccepted(p.node, p.epoch)
        word, bit = s.green.acceptedWord(p.node, p.epoch)
        assert word >> bit & 1
    assert not s.green.isAccepted(proofs.node, proofs.epoch + 4)
    s.rejects("EpochAlreadyProved", s.wgreen.submitBatch([proofs.over_cap.item(), proofs.second.item()]),
              s.outsider, node=proofs.node, epoch=proofs.second.epoch)
    s.green.submit(*proofs.over_cap.submit_args(), sender=s.node)
    assert s.green.isAccepted(proofs.node, proofs.over_cap.epoch) and s.green.isAccepted(proofs.node, proofs.epoch)
