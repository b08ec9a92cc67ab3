"""GreenProof v2 on anvil with real efficiency proofs: single submissions, every rejection with its own error, the
attacks of issue 12 (zero work, idle epochs, admission time, epoch-length changes, the work cap) and parameters at
submit time. Batches are in test_batch.py."""

from __future__ import annotations

import pytest
from py_ecc import bn128

from oracle.conventions import (
    SNARK_SCALAR_FIELD,
    decode_epoch_record,
    efficiency_carbon_bound_mg,
    efficiency_credits_wei,
    energy_bound_mj,
    label_to_bytes32,
)
from tests.contracts.conftest import (
    BASELINE,
    ENERGY,
    EPOCH_S,
    GRAMS_PER_KWH,
    MAX_UNITS_PER_SECOND,
    MEASURED_CLASS,
    PROVEN_TIER,
    TEST_CLASS,
    TIERS,
)

pytestmark = pytest.mark.chain


def credits(tier_value: int, work: int, baseline: int = BASELINE, length: int = EPOCH_S,
            max_ups: int = MAX_UNITS_PER_SECOND) -> int:
    return efficiency_credits_wei(baseline, tier_value, work, max_ups, length)


def test_accepted_epoch_credits_the_formula_and_claim_mints(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    receipt = s.green.submit(*p.submit_args(), sender=s.node)
    expected = credits(TIERS[PROVEN_TIER], p.work)
    assert expected == (BASELINE - 900) * 32_000 * 10**18 // 3_600_000_000_000 > 0
    [event] = receipt.decode_logs(s.green.EpochProved)
    record = decode_epoch_record(event.record, event.amounts)
    assert (event.node, event.epoch, record.beneficiary) == (s.node.address, p.epoch, s.beneficiary.address)
    assert event.classId == label_to_bytes32(TEST_CLASS)
    assert (record.tier, record.efficiency_uj_per_unit, record.work_units, record.methods, event.commitment) == (
        PROVEN_TIER, 900, 32_000, 0, p.commitment)
    assert record.energy_bound_mj == energy_bound_mj(900, 32_000) == 28_800 >= sum(ENERGY)
    assert record.carbon_bound_mg == efficiency_carbon_bound_mg(900, 32_000, GRAMS_PER_KWH)
    assert record.credits_wei == expected
    assert s.green.accrued(s.beneficiary.address) == expected
    assert s.green.isAccepted(s.node.address, p.epoch) and not s.green.isAccepted(s.node.address, p.epoch + 1)
    # The node's bit in its acceptance word (16 epochs × 16 node indices): nothing else there is set.
    word, bit = s.green.acceptedWord(s.node.address, p.epoch)
    assert word == 1 << bit and bit == (p.epoch % 16) * 16 + 1  # the first node admitted has index 1
    assert s.green.creditsFor(label_to_bytes32(TEST_CLASS), PROVEN_TIER, p.work, p.epoch) == expected
    s.green.claim(sender=s.beneficiary)
    assert s.credit.balanceOf(s.beneficiary.address) == expected
    assert s.green.accrued(s.beneficiary.address) == 0
    s.rejects("NothingToClaim", s.wgreen.claim(), s.beneficiary, beneficiary=s.beneficiary.address)


def test_claim_to_mints_to_another_wallet(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    s.green.submit(*p.submit_args(), sender=s.node)
    s.green.claimTo(s.outsider.address, sender=s.beneficiary)
    assert s.credit.balanceOf(s.outsider.address) == credits(900, p.work)
    s.rejects("ZeroAddress", s.wgreen.claimTo("0x" + "00" * 20), s.beneficiary)


def test_each_rejection_has_its_own_error(stack, proofs):
    s, p = stack, proofs.first
    g = s.wgreen
    # Before the epoch ends.
    s.mine_at(p.epoch * EPOCH_S + 1)
    s.rejects("EpochNotEnded", g.submit(*p.submit_args()), s.node, epoch=p.epoch, currentEpoch=p.epoch)
    s.mine_at(proofs.submit_time)
    s.rejects("NodeNotActive", g.submit(*p.submit_args()), s.outsider, node=s.outsider.address)
    s.rejects("InputNotInField", g.submit(*p.submit_args(commitment=p.commitment + SNARK_SCALAR_FIELD)), s.node,
              value=p.commitment + SNARK_SCALAR_FIELD)
    s.rejects("UnknownTier", g.submit(*p.submit_args(tier=4)), s.node, classId=label_to_bytes32(TEST_CLASS), tier=4)
    s.rejects("WorkBelowMinimum", g.submit(*p.submit_args(work=0)), s.node, work=0, minWorkPerEpoch=1)
    s.rejects("MethodNotAccepted", g.submit(*p.submit_args(methods=0x03)), s.node, methods=3)
    s.rejects("MethodNotAccepted", g.submit(*p.submit_args(methods=0x30)), s.node, methods=0x30)
    # A valid proof of tier 2 submitted as tier 1 or 3: TierMismatch names the proven tier.
    s.rejects("TierMismatch", g.submit(*p.submit_args(tier=1)), s.node, tier=1, provenTier=PROVEN_TIER)
    s.rejects("TierMismatch", g.submit(*p.submit_args(tier=3)), s.node, tier=3, provenTier=PROVEN_TIER)
    bad = list(p.proof)
    bad[7] = (bad[7] + 1) % bn128.field_modulus
    s.rejects("InvalidProof", g.submit(*p.submit_args(proof=bad)), s.node)
    s.rejects("InvalidProof", g.submit(*p.submit_args(work=p.work + 1)), s.node)  # W is a public input
    s.rejects("InvalidProof", g.submit(*p.submit_args(epoch=p.epoch - 1)), s.node)  # so is the epoch
    s.rejects("InvalidProof", g.submit(*p.submit_args()), s.account(4))  # and the node (fleet node 4 is active)
    # Too old: maxEpochAge after the epoch's end.
    s.mine_at((p.epoch + 1) * EPOCH_S + s.green.maxEpochAge() + 1)
    s.rejects("EpochTooOld", g.submit(*p.submit_args()), s.node, epoch=p.epoch)


def test_an_accepted_epoch_is_refused_again_even_with_a_rerandomised_proof(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    s.green.submit(*p.submit_args(), sender=s.node)
    s.rejects("EpochAlreadyProved", s.wgreen.submit(*p.submit_args()), s.node, node=s.node.address, epoch=p.epoch)
    # Re-randomise: (k·A, k⁻¹·B, C) is another valid proof of the same statement, with different bytes.
    k = 7
    a = bn128.multiply((bn128.FQ(p.proof[0]), bn128.FQ(p.proof[1])), k)
    b = bn128.multiply((bn128.FQ2([p.proof[3], p.proof[2]]), bn128.FQ2([p.proof[5], p.proof[4]])),
                       pow(k, -1, bn128.curve_order))
    other = [int(a[0]), int(a[1]), b[0].coeffs[1], b[0].coeffs[0], b[1].coeffs[1], b[1].coeffs[0], p.proof[6],
             p.proof[7]]
    other = [int(v) for v in other]
    assert other != p.proof
    assert s.wverifier.verifyProof(*p.verifier_args(proof=other)).call()
    s.rejects("EpochAlreadyProved", s.wgreen.submit(*p.submit_args(proof=other)), s.node, epoch=p.epoch)


def test_pause_stops_submit_and_claim_and_only_the_roles_govern(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    s.green.submit(*p.submit_args(), sender=s.node)
    s.green.pause(sender=s.governor)
    s.rejects("EnforcedPause", s.wgreen.submit(*proofs.second.submit_args()), s.node)
    s.rejects("EnforcedPause", s.wgreen.submitBatch([proofs.second.item()]), s.outsider)
    s.rejects("EnforcedPause", s.wgreen.claim(), s.beneficiary)
    s.rejects("EnforcedPause", s.wgreen.claimTo(s.outsider.address), s.beneficiary)
    s.green.unpause(sender=s.governor)
    s.green.claim(sender=s.beneficiary)
    role = s.green.GOVERNOR_ROLE()
    for call in (s.wgreen.setEpochLength(10), s.wgreen.setMaxEpochAge(10), s.wgreen.retireNode(s.node.address),
                 s.wgreen.setRegionCarbon(label_to_bytes32("KR"), 1),
                 s.wgreen.admitNode(s.outsider.address, s.outsider.address, label_to_bytes32(TEST_CLASS),
                                    label_to_bytes32("KR"), "x"),
                 s.wgreen.setEfficiencyClass(label_to_bytes32("X"), b"\0" * 32, b"\0" * 32, b"\0" * 32, "", 2, [1],
                                             1, 1, False)):
        s.rejects("AccessControlUnauthorizedAccount", call, s.outsider, account=s.outsider.address, neededRole=role)
    s.rejects("AccessControlUnauthorizedAccount", s.wgreen.pause(), s.outsider, account=s.outsider.address,
              neededRole=s.green.PAUSER_ROLE())


def test_retired_node_is_refused(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    s.green.retireNode(s.node.address, sender=s.governor)
    s.rejects("NodeNotActive", s.wgreen.submit(*p.submit_args()), s.node, node=s.node.address)
    s.rejects("NodeNotActive", s.wgreen.retireNode(s.node.address), s.governor)


def test_a_re_admitted_node_keeps_its_index_and_acceptance_history(stack, proofs):
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)
    s.green.submit(*p.submit_args(), sender=s.node)
    before = tuple(s.green.acceptedWord(s.node.address, p.epoch))
    s.green.retireNode(s.node.address, sender=s.governor)
    s.admit(s.node.address, s.beneficiary.address)
    assert s.green.isAccepted(s.node.address, p.epoch)
    assert tuple(s.green.acceptedWord(s.node.address, p.epoch)) == before  # the same index: the same word and bit
    assert tuple(s.green.acceptedWord(s.outsider.address, p.epoch)) == (0, 0)  # never admitted: no word


def test_governance_validates_classes_and_emits_them(stack):
    s = stack
    g = s.wgreen
    cid = label_to_bytes32("NEW/x/token")
    def bad(error, *args, **ctx):
        s.rejects(error, g.setEfficiencyClass(cid, b"\0" * 32, b"\0" * 32, b"\0" * 32, "q", *args), s.governor, **ctx)
    bad("InvalidBaseline", 0, [1], 1, 1, False)
    bad("InvalidBaseline", 2**32, [1], 1, 1, False)
    bad("InvalidTiers", 100, [], 1, 1, False)
    bad("InvalidTiers", 100, [1, 2, 3, 4, 5, 6], 1, 1, False)
    bad("InvalidTiers", 100, [5, 5], 1, 1, False)
    bad("InvalidTiers", 100, [100], 1, 1, False)  # each tier below the baseline
    bad("InvalidTiers", 100, [0], 1, 1, False)
    bad("InvalidWorkBounds", 100, [50], 0, 1, False)
    bad("InvalidWorkBounds", 100, [50], 1, 0, False)
    s.rejects("EmptyName", g.setEfficiencyClass(b"\0" * 32, b"\0" * 32, b"\0" * 32, b"\0" * 32, "q", 100, [50], 1, 1,
                                                False), s.governor)
    receipt = s.green.setEfficiencyClass(cid, label_to_bytes32("H200"), label_to_bytes32("w"), label_to_bytes32("token"),
                                         "bf16 or better", 100, [10, 50], 7, 9, True, sender=s.governor)
    [ev] = receipt.decode_logs(s.green.EfficiencyClassSet)
    assert (ev.classId, ev.hardwareClass, ev.unit, ev.qualityFloor, ev.baselineUjPerUnit, list(ev.tiersUjPerUnit),
            ev.minWorkPerEpoch, ev.maxUnitsPerSecond, ev.requireMeasured) == (
        cid, label_to_bytes32("H200"), label_to_bytes32("token"), "bf16 or better", 100, [10, 50], 7, 9, True)
    assert g.efficiencyClass(cid).call() == [label_to_bytes32("H200"), label_to_bytes32("w"), label_to_bytes32("token"),
                                             100, [10, 50], 7, 9, True]
    assert cid in g.classIds().call()
    s.rejects("UnknownClass", g.admitNode(s.outsider.address, s.outsider.address, label_to_bytes32("nope"),
                                          label_to_bytes32("KR"), ""), s.governor)
    s.rejects("UnknownRegion", g.admitNode(s.outsider.address, s.outsider.address, cid, label_to_bytes32("XX"), ""),
              s.governor)


# --- issue 12: attacks that must fail ----------------------------------------------------------------------------
def test_zero_work_earns_nothing(stack, proofs):
    """A proof with Σe = 0 and W = 0 exists (1000·0 ≤ τ·0) and verifies, but W = 0 is below every class's minimum."""
    s, p = stack, proofs.zero_work
    assert p.work == 0 and s.wverifier.verifyProof(*p.verifier_args()).call()
    s.mine_at(proofs.submit_time)
    s.rejects("WorkBelowMinimum", s.wgreen.submit(*p.submit_args()), s.node, work=0, minWorkPerEpoch=1)
    s.rejects("WorkBelowMinimum", s.wgreen.submitBatch([p.item()]), s.outsider, work=0)
    # And the formula: W = 0 → 0 credits, whatever the tier.
    assert all(credits(t, 0) == 0 for t in TIERS)
    assert s.green.creditsFor(label_to_bytes32(TEST_CLASS), 0, 0, p.epoch) == 0


def test_an_idle_epoch_energy_without_work_cannot_be_proved():
    """The idle replayed trace (energy, no work): the prover refuses it (ZeroWork), and the circuit itself has no
    witness for 1000·Σe ≤ τ·0 with Σe > 0, so no proof exists to submit."""
    from oracle.zk import Prover
    from oracle.zk.errors import ProverFailed, ZeroWork
    from tests.contracts.conftest import NODE, _test_account, base_epoch, make_proof, raw_proof

    node = _test_account(NODE).address
    with Prover() as prover:
        with pytest.raises(ZeroWork):
            make_proof(prover, node, base_epoch(), tier=3, work=[0] * 64)
        with pytest.raises(ProverFailed):
            raw_proof(prover, node, base_epoch(), 3, ENERGY, [0] * 64)


def test_a_node_is_never_credited_for_an_epoch_that_started_before_its_admission(stack, proofs):
    s = stack
    fleet = proofs.fleet[0]  # fleet node 4, epoch E
    s.mine_at(fleet.epoch * EPOCH_S + 2)  # inside epoch E
    s.green.retireNode(fleet.node, sender=s.governor)
    receipt = s.admit(fleet.node, s.account(7).address)  # re-admitted mid-epoch E
    [ev] = receipt.decode_logs(s.green.NodeAdmitted)
    admitted = ev.admittedAt
    assert fleet.epoch * EPOCH_S < admitted < (fleet.epoch + 1) * EPOCH_S
    assert s.wgreen.nodeInfo(fleet.node).call()[3:] == [True, admitted]
    s.mine_at(proofs.submit_time)
    s.rejects("EpochBeforeAdmission", s.wgreen.submit(*fleet.submit_args()), s.account(4), epoch=fleet.epoch,
              admittedAt=admitted)
    s.rejects("EpochBeforeAdmission", s.wgreen.submitBatch([fleet.item()]), s.outsider, epoch=fleet.epoch)
    # The next epoch started after the admission: accepted.
    s.green.submit(*proofs.fleet[1].submit_args(), sender=s.account(4))
    # Updating an active node keeps its admission time.
    s.admit(fleet.node, s.account(8).address)
    assert s.wgreen.nodeInfo(fleet.node).call()[4] == admitted


def test_an_epoch_length_change_never_credits_a_stretch_of_time_twice(stack, proofs):
    s, g = stack, stack.wgreen
    e = proofs.epoch
    # During epoch E (5 s), governance doubles the length: epochs up to E keep their bounds, E + 1 starts at E's end.
    s.mine_at(e * EPOCH_S + 1)
    assert g.currentEpoch().call() == e
    receipt = s.green.setEpochLength(10, sender=s.governor)
    [ev] = receipt.decode_logs(s.green.EpochScheduleChanged)
    assert (ev.origin, ev.firstEpoch, ev.length) == ((e + 1) * EPOCH_S, e + 1, 10)
    assert [list(x) for x in g.schedule().call()] == [[0, 0, EPOCH_S], [(e + 1) * EPOCH_S, e + 1, 10]]
    # A second change before E + 1 starts replaces the pending segment (still at E's end).
    s.green.setEpochLength(20, sender=s.governor)
    s.green.setEpochLength(10, sender=s.governor)
    assert [list(x) for x in g.schedule().call()] == [[0, 0, EPOCH_S], [(e + 1) * EPOCH_S, e + 1, 10]]
    spans = [tuple(g.epochBounds(x).call()) for x in range(e - 3, e + 5)]
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert start < end == next_start  # contiguous, never overlapping
    assert spans[3] == (e * EPOCH_S, (e + 1) * EPOCH_S) and spans[4] == ((e + 1) * EPOCH_S, (e + 1) * EPOCH_S + 10)
    assert g.epochAt((e + 1) * EPOCH_S + 9).call() == e + 1 and g.epochAt((e + 1) * EPOCH_S + 10).call() == e + 2
    # Prove E and E + 1 on anvil: E + 1 is now 10 s long (its cap doubles), and no time is in both.
    s.mine_at((e + 1) * EPOCH_S + 3)  # E ended, E + 1 (10 s) still running
    s.green.submit(*proofs.first.submit_args(), sender=s.node)
    s.rejects("EpochNotEnded", g.submit(*proofs.second.submit_args()), s.node, epoch=e + 1, currentEpoch=e + 1)
    rpc_increase = (e + 1) * EPOCH_S + 11 - s.now()
    from oracle.chain.anvil import rpc_call

    rpc_call(s.url, "evm_increaseTime", [rpc_increase])
    rpc_call(s.url, "evm_mine", [])
    s.green.submit(*proofs.second.submit_args(), sender=s.node)
    assert s.green.accrued(s.beneficiary.address) == credits(900, 32_000) + credits(900, 32_000, length=10)
    # The epoch number a floor(t / 10) renumbering would give E's time (E // 2) is 25 years old here: refused.
    s.rejects("EpochTooOld", g.submit(*proofs.late.submit_args()), s.node, epoch=proofs.late.epoch)
    # Every epoch that was or can be accepted covers its own time only.
    accepted = [x for x in range(e - 3, e + 5) if g.isAccepted(s.node.address, x).call()]
    assert accepted == [e, e + 1]


def test_setting_the_length_shorter_also_keeps_epochs_disjoint(stack, proofs):
    s, g = stack, stack.wgreen
    e = proofs.epoch
    s.mine_at(e * EPOCH_S + 4)
    s.green.setEpochLength(2, sender=s.governor)
    # The change takes effect at the end of the epoch it was mined in (anvil may have mined it a second or two after
    # the block above, possibly already in epoch e + 1): read that epoch from the block, not from the wall clock.
    current = s.now() // EPOCH_S
    spans = [tuple(g.epochBounds(x).call()) for x in range(current - 1, current + 6)]
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert start < end == next_start
    assert spans[1] == (current * EPOCH_S, (current + 1) * EPOCH_S)  # the epoch in progress keeps its length
    assert spans[2] == ((current + 1) * EPOCH_S, (current + 1) * EPOCH_S + 2)  # the next one is the first short one
    assert current >= e
    s.rejects("InvalidDuration", g.setEpochLength(0), s.governor)


def test_work_above_the_class_rate_cap_is_credited_at_the_cap(stack, proofs):
    s, p = stack, proofs.over_cap
    assert p.work == 64_000 > MAX_UNITS_PER_SECOND * EPOCH_S
    s.mine_at(proofs.submit_time)
    receipt = s.green.submit(*p.submit_args(), sender=s.node)
    [ev] = receipt.decode_logs(s.green.EpochProved)
    record = decode_epoch_record(ev.record, ev.amounts)
    assert record.work_units == 64_000  # the record keeps W; the credits count at most the cap
    assert record.credits_wei == credits(400, 64_000) == (BASELINE - 400) * 50_000 * 10**18 // 3_600_000_000_000


def test_a_class_requiring_measured_rejects_a_replayed_submission(stack, proofs):
    s, p = stack, proofs.replayed
    s.mine_at(proofs.submit_time)
    s.admit(s.node.address, s.beneficiary.address, MEASURED_CLASS)  # update keeps the admission time
    s.rejects("MethodNotAccepted", s.wgreen.submit(*p.submit_args()), s.node, methods=0x22)
    s.rejects("MethodNotAccepted", s.wgreen.submitBatch([p.item()]), s.outsider, methods=0x22)
    s.green.submit(*proofs.first.submit_args(), sender=s.node)  # measured: accepted
    # The methods are bound by the proof: claiming "measured" for the replayed proof fails verification.
    s.rejects("InvalidProof", s.wgreen.submit(*p.submit_args(methods=0)), s.node)
    # In a class that accepts them, the replayed submission is accepted and its methods are on chain.
    s.admit(s.node.address, s.beneficiary.address, TEST_CLASS)
    receipt = s.green.submit(*p.submit_args(), sender=s.node)
    [ev] = receipt.decode_logs(s.green.EpochProved)
    assert decode_epoch_record(ev.record, ev.amounts).methods == 0x22


def test_credits_use_the_parameters_in_force_at_submit_time(stack, proofs):
    """β (and the cap, tiers, carbon factor) as they are when the proof is accepted, not during the epoch."""
    s, p = stack, proofs.first
    s.mine_at(proofs.submit_time)  # epoch E has ended under β = 2000
    s.set_class(baseline=3000)
    s.green.setRegionCarbon(label_to_bytes32("KR"), 100, sender=s.governor)
    receipt = s.green.submit(*p.submit_args(), sender=s.node)
    [ev] = receipt.decode_logs(s.green.EpochProved)
    record = decode_epoch_record(ev.record, ev.amounts)
    assert record.credits_wei == credits(900, p.work, baseline=3000) != credits(900, p.work)
    assert record.carbon_bound_mg == efficiency_carbon_bound_mg(900, p.work, 100)
