"""GreenProof + EcoCredit on a real anvil through Ape, with real Groth16 proofs of circuits/energy_budget."""

from __future__ import annotations

import pytest

from oracle.chain.deploy import label_bytes32, load_params

pytestmark = pytest.mark.chain

PARAMS = load_params()
BASELINE_MJ, TIERS_MJ = PARAMS.class_energy("H200")
KR = label_bytes32("KR")
H200 = label_bytes32("H200")
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


def submit(stack, epoch_proof, tier=None, commitment=None, proof=None, epoch=None, sender=None):
    return stack.green.submit(
        epoch_proof.epoch if epoch is None else epoch,
        epoch_proof.tier if tier is None else tier,
        epoch_proof.commitment if commitment is None else commitment,
        epoch_proof.proof if proof is None else proof,
        sender=sender or stack.node,
    )


def test_happy_path_records_the_epoch_credits_the_beneficiary_and_claims_into_the_wallet(stack, proofs, reverts):
    first = proofs.first
    stack.set_next_time(proofs.submit_time)
    receipt = submit(stack, first)

    threshold = TIERS_MJ[first.tier]
    credits = stack.expected_credits(threshold)
    carbon = stack.expected_carbon_mg(threshold, PARAMS.regions["KR"])
    assert credits == (3_500_000 - 1_500_000) * 10**18 // 3_600_000_000 > 0
    [event] = receipt.decode_logs(stack.green.EpochProved)
    assert event.event_arguments == {
        "node": stack.node.address, "epoch": first.epoch, "beneficiary": stack.beneficiary.address,
        "tier": first.tier, "thresholdMj": threshold, "commitment": first.commitment,
        "carbonBoundMg": carbon, "credits": credits,
    }
    assert stack.green.isAccepted(stack.node.address, first.epoch)
    assert not stack.green.isAccepted(stack.node.address, proofs.second.epoch)
    record = stack.green.recordOf(stack.node.address, first.epoch)
    block_time = stack.green.provider.get_block(receipt.block_number).timestamp
    assert (record.acceptedAt, record.tier, record.thresholdMj, record.carbonBoundMg, record.credits) == (
        block_time, first.tier, threshold, carbon, credits)
    assert stack.green.accrued(stack.beneficiary.address) == credits
    assert stack.credit.balanceOf(stack.beneficiary.address) == 0  # minted only at claim time

    # A second epoch accrues on top of the first.
    submit(stack, proofs.second)
    assert stack.green.accrued(stack.beneficiary.address) == 2 * credits

    claim = stack.green.claim(sender=stack.beneficiary)
    [claimed] = claim.decode_logs(stack.green.CreditsClaimed)
    assert claimed.event_arguments == {"beneficiary": stack.beneficiary.address,
                                       "to": stack.beneficiary.address, "amount": 2 * credits}
    assert stack.credit.balanceOf(stack.beneficiary.address) == 2 * credits
    assert stack.credit.totalSupply() == 2 * credits
    assert stack.green.accrued(stack.beneficiary.address) == 0
    with reverts("NothingToClaim", beneficiary=stack.beneficiary.address):
        stack.green.claim(sender=stack.beneficiary)


def test_claim_to_sends_the_credits_to_another_wallet(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    submit(stack, proofs.first)
    credits = stack.expected_credits(TIERS_MJ[proofs.first.tier])
    with reverts("ZeroAddress"):
        stack.green.claimTo("0x" + "00" * 20, sender=stack.beneficiary)
    stack.green.claimTo(stack.outsider.address, sender=stack.beneficiary)
    assert stack.credit.balanceOf(stack.outsider.address) == credits
    assert stack.credit.balanceOf(stack.beneficiary.address) == 0


def test_second_submit_for_the_same_node_and_epoch_is_rejected(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    submit(stack, proofs.first)
    with reverts("EpochAlreadyProved", node=stack.node.address, epoch=proofs.first.epoch):
        submit(stack, proofs.first)


def test_a_re_randomized_proof_is_valid_yet_cannot_claim_the_epoch_twice(stack, proofs, reverts):
    """Groth16 proofs are malleable ((-A, -B, C) verifies too), which is why the uniqueness key is the public
    (node, epoch), never the proof bytes."""
    first = proofs.first
    p = first.proof
    malleated = [p[0], (Q - p[1]) % Q, p[2], p[3], (Q - p[4]) % Q, (Q - p[5]) % Q, p[6], p[7]]
    assert malleated != p
    assert stack.verifier.verifyProof(*first.verifier_args(proof=malleated))
    stack.set_next_time(proofs.submit_time)
    submit(stack, first)
    with reverts("EpochAlreadyProved"):
        submit(stack, first, proof=malleated)


def test_aliased_public_inputs_are_rejected(stack, proofs, reverts):
    first = proofs.first
    assert stack.verifier.verifyProof(*first.verifier_args())
    for i in range(4):
        aliased = list(first.inputs)
        aliased[i] += R  # the same field element, as a different uint256
        assert not stack.verifier.verifyProof(*first.verifier_args(inputs=aliased)), f"input {i} aliased"
    stack.set_next_time(proofs.submit_time)
    with reverts("InputNotInField", value=first.commitment + R):
        submit(stack, first, commitment=first.commitment + R)


def test_tampered_proof_is_rejected(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    tampered = list(proofs.first.proof)
    tampered[6] = (tampered[6] + 1) % Q
    with reverts("InvalidProof"):
        submit(stack, proofs.first, proof=tampered)
    with reverts("InvalidProof"):  # a valid proof of another epoch
        submit(stack, proofs.first, proof=proofs.second.proof)
    with reverts("InvalidProof"):  # the right proof with another commitment
        submit(stack, proofs.first, commitment=proofs.second.commitment)
    assert not stack.green.isAccepted(stack.node.address, proofs.first.epoch)


def test_unregistered_and_retired_nodes_are_rejected(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    with reverts("NodeNotActive", node=stack.outsider.address):
        submit(stack, proofs.first, sender=stack.outsider)
    receipt = stack.green.retireNode(stack.node.address, sender=stack.governor)
    [event] = receipt.decode_logs(stack.green.NodeRetired)
    assert event.event_arguments == {"node": stack.node.address}
    assert stack.green.nodeInfo(stack.node.address)[3] is False
    with reverts("NodeNotActive", node=stack.node.address):
        submit(stack, proofs.first)
    with reverts("NodeNotActive"):
        stack.green.retireNode(stack.node.address, sender=stack.governor)


def test_a_tier_whose_threshold_does_not_match_the_proof_is_rejected(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    # The proof is for tier 1's threshold: claiming the stricter tier 0 (more credits) or tier 2 fails.
    with reverts("TierMismatch", tier=0, provenTier=1):
        submit(stack, proofs.first, tier=0)
    with reverts("TierMismatch", tier=2, provenTier=1):
        submit(stack, proofs.first, tier=2)
    with reverts("UnknownTier", hardwareClass=H200, tier=len(TIERS_MJ)):
        submit(stack, proofs.first, tier=len(TIERS_MJ))
    assert stack.green.accrued(stack.beneficiary.address) == 0


def test_future_and_stale_epochs_are_rejected(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    submit(stack, proofs.first)  # moves the chain's clock to submit_time
    now_epoch = stack.green.currentEpoch()
    with reverts("EpochNotEnded", epoch=now_epoch):  # the running epoch has not ended
        submit(stack, proofs.second, epoch=now_epoch)
    with reverts("EpochNotEnded", epoch=now_epoch + 100):
        submit(stack, proofs.second, epoch=now_epoch + 100)
    stale = now_epoch - PARAMS.max_epoch_age_s // PARAMS.epoch_length_s - 2
    with reverts("EpochTooOld", epoch=stale):
        submit(stack, proofs.second, epoch=stale)


def test_only_governance_changes_parameters_and_the_registry(stack, reverts):
    outsider = stack.outsider
    role = stack.green.GOVERNOR_ROLE()
    calls = [
        lambda: stack.green.setHardwareClass(H200, 1, [1], sender=outsider),
        lambda: stack.green.setRegionCarbon(KR, 1, sender=outsider),
        lambda: stack.green.setEpochLength(60, sender=outsider),
        lambda: stack.green.setMaxEpochAge(60, sender=outsider),
        lambda: stack.green.admitNode(outsider.address, outsider.address, H200, KR, sender=outsider),
        lambda: stack.green.retireNode(stack.node.address, sender=outsider),
    ]
    for call in calls:
        with reverts("AccessControlUnauthorizedAccount", account=outsider.address, neededRole=role):
            call()
    with reverts("AccessControlUnauthorizedAccount", neededRole=stack.green.PAUSER_ROLE()):
        stack.green.pause(sender=outsider)
    assert stack.green.epochLength() == PARAMS.epoch_length_s
    assert stack.green.tiersOf(H200) == TIERS_MJ


def test_governance_changes_emit_events_and_check_their_values(stack, reverts):
    g, gov = stack.green, stack.governor
    receipt = g.setHardwareClass(label_bytes32("A100"), 2_000_000, [500_000, 900_000], sender=gov)
    [event] = receipt.decode_logs(g.HardwareClassSet)
    assert event.event_arguments == {"hardwareClass": label_bytes32("A100"), "baselineMj": 2_000_000,
                                     "tiersMj": [500_000, 900_000]}
    assert g.tiersOf(label_bytes32("A100")) == [500_000, 900_000]
    assert g.baselineOf(label_bytes32("A100")) == 2_000_000
    for tiers in ([], [5, 5], [9, 5], [0], [2_000_001], [1, 2, 3, 4, 5, 6]):
        with reverts("InvalidTiers"):
            g.setHardwareClass(label_bytes32("A100"), 2_000_000, tiers, sender=gov)
    with reverts("InvalidBaseline"):
        g.setHardwareClass(label_bytes32("A100"), 2**40, [1], sender=gov)
    with reverts("EmptyName"):
        g.setHardwareClass(b"\0" * 32, 10, [1], sender=gov)

    [event] = g.setRegionCarbon(label_bytes32("SE"), 41, sender=gov).decode_logs(g.RegionCarbonSet)
    assert event.event_arguments == {"region": label_bytes32("SE"), "gramsPerKwh": 41}
    assert g.carbonFactorOf(label_bytes32("SE")) == 41
    with reverts("InvalidCarbonFactor"):
        g.setRegionCarbon(label_bytes32("SE"), 2**20 + 1, sender=gov)

    [event] = g.setEpochLength(60, sender=gov).decode_logs(g.EpochLengthSet)
    assert event.event_arguments == {"epochLength": 60} and g.epochLength() == 60
    [event] = g.setMaxEpochAge(600, sender=gov).decode_logs(g.MaxEpochAgeSet)
    assert event.event_arguments == {"maxEpochAge": 600} and g.maxEpochAge() == 600
    with reverts("InvalidDuration"):
        g.setEpochLength(0, sender=gov)

    with reverts("UnknownHardwareClass", hardwareClass=label_bytes32("TPU")):
        g.admitNode(stack.outsider.address, stack.outsider.address, label_bytes32("TPU"), KR, sender=gov)
    with reverts("UnknownRegion", region=label_bytes32("XX")):
        g.admitNode(stack.outsider.address, stack.outsider.address, H200, label_bytes32("XX"), sender=gov)
    receipt = g.admitNode(stack.outsider.address, stack.beneficiary.address, label_bytes32("A100"),
                          label_bytes32("SE"), sender=gov)
    [event] = receipt.decode_logs(g.NodeAdmitted)
    assert event.event_arguments == {"node": stack.outsider.address, "beneficiary": stack.beneficiary.address,
                                     "hardwareClass": label_bytes32("A100"), "region": label_bytes32("SE")}
    assert g.nodeInfo(stack.outsider.address) == (stack.beneficiary.address, label_bytes32("A100"),
                                                   label_bytes32("SE"), True)


def test_only_green_proof_mints_credits(stack, reverts):
    minter = stack.credit.MINTER_ROLE()
    assert stack.credit.hasRole(minter, stack.green.address)
    for who in (stack.governor, stack.outsider, stack.node):
        with reverts("AccessControlUnauthorizedAccount", account=who.address, neededRole=minter):
            stack.credit.mint(who.address, 1, sender=who)
    assert stack.credit.totalSupply() == 0
    assert (stack.credit.name(), stack.credit.symbol(), stack.credit.decimals()) == ("Eco Credit", "ECO", 18)


def test_submit_and_claim_are_paused_by_governance(stack, proofs, reverts):
    stack.set_next_time(proofs.submit_time)
    submit(stack, proofs.first)
    stack.green.pause(sender=stack.governor)
    with reverts("EnforcedPause"):
        submit(stack, proofs.second)
    with reverts("EnforcedPause"):
        stack.green.claim(sender=stack.beneficiary)
    stack.green.unpause(sender=stack.governor)
    submit(stack, proofs.second)
    stack.green.claim(sender=stack.beneficiary)
    assert stack.credit.balanceOf(stack.beneficiary.address) == 2 * stack.expected_credits(TIERS_MJ[1])


def test_a_proof_submitted_after_the_window_is_stale(stack, proofs, reverts):
    """Last in this module: it moves the shared chain clock past the proofs' acceptance window."""
    stack.set_next_time((proofs.second.epoch + 1) * PARAMS.epoch_length_s + PARAMS.max_epoch_age_s + 1)
    with reverts("EpochTooOld", epoch=proofs.second.epoch):
        submit(stack, proofs.second)
