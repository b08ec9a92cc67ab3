"""GreenProof + EcoCredit on a real anvil with real Groth16 proofs of circuits/energy_budget.

Successful transactions go through Ape; each rejection is checked with eth_call (web3.py, the deployment
file's ABI) and must name its own custom error.
"""

from __future__ import annotations

import pytest
from py_ecc.bn128 import field_modulus as Q

from oracle.chain.deploy import load_params
from oracle.conventions import SNARK_SCALAR_FIELD as R
from oracle.conventions import carbon_bound_mg, credits_wei, label_to_bytes32

pytestmark = pytest.mark.chain

PARAMS = load_params()
BASELINE_MJ, TIERS_MJ = PARAMS.class_energy("H200")
KR = label_to_bytes32("KR")
H200 = label_to_bytes32("H200")
ZERO_ADDRESS = "0x" + "00" * 20


def args(epoch_proof, **overrides):
    """submit's arguments (epoch, tier, commitment, proof) for a proof, with some replaced."""
    values = {"epoch": epoch_proof.epoch, "tier": epoch_proof.tier, "commitment": epoch_proof.commitment,
              "proof": epoch_proof.proof} | overrides
    return values["epoch"], values["tier"], values["commitment"], values["proof"]


def submit(stack, epoch_proof, **overrides):
    return stack.green.submit(*args(epoch_proof, **overrides), sender=stack.node)


def rejected_submit(stack, error, epoch_proof, sender=None, inputs=None, **overrides):
    stack.rejects(error, stack.wgreen.submit(*args(epoch_proof, **overrides)), sender or stack.node,
                  **(inputs or {}))


def test_happy_path_records_the_epoch_credits_the_beneficiary_and_claims_into_the_wallet(stack, proofs):
    first = proofs.first
    stack.mine_at(proofs.submit_time)
    receipt = submit(stack, first)

    threshold = TIERS_MJ[first.tier]
    credits = credits_wei(BASELINE_MJ, threshold)
    carbon = carbon_bound_mg(threshold, PARAMS.regions["KR"])
    assert credits == (3_500_000 - 1_500_000) * 10**18 // 3_600_000_000 > 0
    assert carbon == -(-1_500_000 * 431 // 3_600_000) == 180
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

    submit(stack, proofs.second)  # a second epoch accrues on top of the first
    assert stack.green.accrued(stack.beneficiary.address) == 2 * credits

    claim = stack.green.claim(sender=stack.beneficiary)
    [claimed] = claim.decode_logs(stack.green.CreditsClaimed)
    assert claimed.event_arguments == {"beneficiary": stack.beneficiary.address,
                                       "to": stack.beneficiary.address, "amount": 2 * credits}
    assert stack.credit.balanceOf(stack.beneficiary.address) == 2 * credits
    assert stack.credit.totalSupply() == 2 * credits
    assert stack.green.accrued(stack.beneficiary.address) == 0
    stack.rejects("NothingToClaim", stack.wgreen.claim(), stack.beneficiary, beneficiary=stack.beneficiary.address)


def test_claim_to_sends_the_credits_to_another_wallet(stack, proofs):
    stack.mine_at(proofs.submit_time)
    submit(stack, proofs.first)
    credits = credits_wei(BASELINE_MJ, TIERS_MJ[proofs.first.tier])
    stack.rejects("ZeroAddress", stack.wgreen.claimTo(ZERO_ADDRESS), stack.beneficiary)
    stack.rejects("NothingToClaim", stack.wgreen.claimTo(stack.outsider.address), stack.outsider)
    stack.green.claimTo(stack.outsider.address, sender=stack.beneficiary)
    assert stack.credit.balanceOf(stack.outsider.address) == credits
    assert stack.credit.balanceOf(stack.beneficiary.address) == 0


def test_second_submit_for_the_same_node_and_epoch_is_rejected(stack, proofs):
    stack.mine_at(proofs.submit_time)
    submit(stack, proofs.first)
    rejected_submit(stack, "EpochAlreadyProved", proofs.first,
                    inputs={"node": stack.node.address, "epoch": proofs.first.epoch})


def test_a_re_randomized_proof_is_valid_yet_cannot_claim_the_epoch_twice(stack, proofs):
    """Groth16 proofs are malleable ((-A, -B, C) verifies too), which is why the uniqueness key is the public
    (node, epoch), never the proof bytes."""
    first = proofs.first
    p = first.proof
    malleated = [p[0], (Q - p[1]) % Q, p[2], p[3], (Q - p[4]) % Q, (Q - p[5]) % Q, p[6], p[7]]
    assert malleated != p
    assert stack.verifier.verifyProof(*first.verifier_args(proof=malleated))
    stack.mine_at(proofs.submit_time)
    submit(stack, first)
    rejected_submit(stack, "EpochAlreadyProved", first, proof=malleated)


def test_aliased_public_inputs_are_rejected(stack, proofs):
    first = proofs.first
    assert stack.verifier.verifyProof(*first.verifier_args())
    for i in range(4):
        aliased = list(first.inputs)
        aliased[i] += R  # the same field element, as a different uint256
        assert not stack.verifier.verifyProof(*first.verifier_args(inputs=aliased)), f"input {i} aliased"
    stack.mine_at(proofs.submit_time)
    rejected_submit(stack, "InputNotInField", first, commitment=first.commitment + R,
                    inputs={"value": first.commitment + R})


def test_tampered_proofs_are_rejected(stack, proofs):
    first = proofs.first
    stack.mine_at(proofs.submit_time)
    for i in range(8):
        tampered = list(first.proof)
        tampered[i] = (tampered[i] + 1) % Q
        rejected_submit(stack, "InvalidProof", first, proof=tampered)
    rejected_submit(stack, "InvalidProof", first, proof=proofs.second.proof)  # valid, for another epoch
    rejected_submit(stack, "InvalidProof", first, commitment=proofs.second.commitment)  # another commitment
    rejected_submit(stack, "InvalidProof", first, proof=[0] * 8)
    # The same proof from another (admitted) node: the node is a public input taken from msg.sender.
    stack.green.admitNode(stack.outsider.address, stack.outsider.address, H200, KR, sender=stack.governor)
    rejected_submit(stack, "InvalidProof", first, sender=stack.outsider)
    assert not stack.green.isAccepted(stack.node.address, first.epoch)


def test_unregistered_and_retired_nodes_are_rejected(stack, proofs):
    stack.mine_at(proofs.submit_time)
    rejected_submit(stack, "NodeNotActive", proofs.first, sender=stack.outsider,
                    inputs={"node": stack.outsider.address})
    receipt = stack.green.retireNode(stack.node.address, sender=stack.governor)
    [event] = receipt.decode_logs(stack.green.NodeRetired)
    assert event.event_arguments == {"node": stack.node.address}
    assert stack.green.nodeInfo(stack.node.address)[3] is False
    rejected_submit(stack, "NodeNotActive", proofs.first, inputs={"node": stack.node.address})
    stack.rejects("NodeNotActive", stack.wgreen.retireNode(stack.node.address), stack.governor)


def test_a_tier_whose_threshold_does_not_match_the_proof_is_rejected(stack, proofs):
    stack.mine_at(proofs.submit_time)
    # The proof is for tier 1's threshold: claiming the stricter tier 0 (more credits) or tier 2 fails.
    rejected_submit(stack, "TierMismatch", proofs.first, tier=0, inputs={"tier": 0, "provenTier": 1})
    rejected_submit(stack, "TierMismatch", proofs.first, tier=2, inputs={"tier": 2, "provenTier": 1})
    rejected_submit(stack, "UnknownTier", proofs.first, tier=len(TIERS_MJ),
                    inputs={"hardwareClass": H200, "tier": len(TIERS_MJ)})


def test_future_and_stale_epochs_are_rejected(stack, proofs):
    stack.mine_at(proofs.submit_time)
    now_epoch = stack.green.currentEpoch()
    assert now_epoch == proofs.submit_time // PARAMS.epoch_length_s
    rejected_submit(stack, "EpochNotEnded", proofs.second, epoch=now_epoch,  # the running epoch
                    inputs={"epoch": now_epoch, "currentEpoch": now_epoch})
    rejected_submit(stack, "EpochNotEnded", proofs.second, epoch=now_epoch + 100, inputs={"epoch": now_epoch + 100})
    stale = now_epoch - PARAMS.max_epoch_age_s // PARAMS.epoch_length_s - 2
    rejected_submit(stack, "EpochTooOld", proofs.second, epoch=stale, inputs={"epoch": stale})
    # The real proof, once its epoch is older than the window.
    stack.mine_at((proofs.second.epoch + 1) * PARAMS.epoch_length_s + PARAMS.max_epoch_age_s + 1)
    rejected_submit(stack, "EpochTooOld", proofs.second, inputs={"epoch": proofs.second.epoch})


def test_only_governance_changes_parameters_and_the_registry(stack):
    g, outsider = stack.wgreen, stack.outsider
    governor_role = stack.green.GOVERNOR_ROLE()
    for call in (g.setHardwareClass(H200, 1, [1]), g.setRegionCarbon(KR, 1), g.setEpochLength(60),
                 g.setMaxEpochAge(60), g.admitNode(outsider.address, outsider.address, H200, KR),
                 g.retireNode(stack.node.address)):
        stack.rejects("AccessControlUnauthorizedAccount", call, outsider,
                      account=outsider.address, neededRole=governor_role)
    for call in (g.pause(), g.unpause()):
        stack.rejects("AccessControlUnauthorizedAccount", call, outsider, neededRole=stack.green.PAUSER_ROLE())
    stack.rejects("AccessControlUnauthorizedAccount", g.grantRole(governor_role, outsider.address), outsider,
                  neededRole=b"\0" * 32)  # DEFAULT_ADMIN_ROLE
    assert stack.green.epochLength() == PARAMS.epoch_length_s
    assert stack.green.tiersOf(H200) == TIERS_MJ


def test_governance_changes_emit_events_and_check_their_values(stack):
    g, wg, gov = stack.green, stack.wgreen, stack.governor
    a100, se = label_to_bytes32("A100"), label_to_bytes32("SE")
    receipt = g.setHardwareClass(a100, 2_000_000, [500_000, 900_000], sender=gov)
    [event] = receipt.decode_logs(g.HardwareClassSet)
    assert event.event_arguments == {"hardwareClass": a100, "baselineMj": 2_000_000, "tiersMj": [500_000, 900_000]}
    assert g.tiersOf(a100) == [500_000, 900_000]
    assert g.baselineOf(a100) == 2_000_000
    for tiers in ([], [5, 5], [9, 5], [0], [2_000_001], [1, 2, 3, 4, 5, 6]):
        stack.rejects("InvalidTiers", wg.setHardwareClass(a100, 2_000_000, tiers), gov)
    stack.rejects("InvalidBaseline", wg.setHardwareClass(a100, 2**40, [1]), gov, baselineMj=2**40)
    stack.rejects("EmptyName", wg.setHardwareClass(b"\0" * 32, 10, [1]), gov)

    [event] = g.setRegionCarbon(se, 41, sender=gov).decode_logs(g.RegionCarbonSet)
    assert event.event_arguments == {"region": se, "gramsPerKwh": 41}
    assert g.carbonFactorOf(se) == 41
    stack.rejects("InvalidCarbonFactor", wg.setRegionCarbon(se, 2**20 + 1), gov)

    [event] = g.setEpochLength(60, sender=gov).decode_logs(g.EpochLengthSet)
    assert event.event_arguments == {"epochLength": 60} and g.epochLength() == 60
    [event] = g.setMaxEpochAge(600, sender=gov).decode_logs(g.MaxEpochAgeSet)
    assert event.event_arguments == {"maxEpochAge": 600} and g.maxEpochAge() == 600
    stack.rejects("InvalidDuration", wg.setEpochLength(0), gov)
    stack.rejects("InvalidDuration", wg.setMaxEpochAge(0), gov)

    stack.rejects("UnknownHardwareClass", wg.admitNode(stack.outsider.address, stack.outsider.address,
                                                       label_to_bytes32("TPU"), KR), gov,
                  hardwareClass=label_to_bytes32("TPU"))
    stack.rejects("UnknownRegion", wg.admitNode(stack.outsider.address, stack.outsider.address, H200,
                                                label_to_bytes32("XX")), gov, region=label_to_bytes32("XX"))
    stack.rejects("ZeroAddress", wg.admitNode(ZERO_ADDRESS, stack.outsider.address, H200, KR), gov)
    receipt = g.admitNode(stack.outsider.address, stack.beneficiary.address, a100, se, sender=gov)
    [event] = receipt.decode_logs(g.NodeAdmitted)
    assert event.event_arguments == {"node": stack.outsider.address, "beneficiary": stack.beneficiary.address,
                                     "hardwareClass": a100, "region": se}
    assert g.nodeInfo(stack.outsider.address) == (stack.beneficiary.address, a100, se, True)


def test_only_green_proof_mints_credits(stack):
    minter = stack.credit.MINTER_ROLE()
    assert stack.credit.hasRole(minter, stack.green.address)
    for who in (stack.governor, stack.outsider, stack.node):
        stack.rejects("AccessControlUnauthorizedAccount", stack.wcredit.mint(who.address, 1), who,
                      account=who.address, neededRole=minter)
    assert stack.credit.totalSupply() == 0
    assert (stack.credit.name(), stack.credit.symbol(), stack.credit.decimals()) == ("Eco Credit", "ECO", 18)


def test_submit_and_claim_are_paused_by_governance(stack, proofs):
    stack.mine_at(proofs.submit_time)
    submit(stack, proofs.first)
    stack.green.pause(sender=stack.governor)
    rejected_submit(stack, "EnforcedPause", proofs.second)
    stack.rejects("EnforcedPause", stack.wgreen.claim(), stack.beneficiary)
    stack.rejects("EnforcedPause", stack.wgreen.claimTo(stack.outsider.address), stack.beneficiary)
    stack.green.unpause(sender=stack.governor)
    submit(stack, proofs.second)
    stack.green.claim(sender=stack.beneficiary)
    assert stack.credit.balanceOf(stack.beneficiary.address) == 2 * credits_wei(BASELINE_MJ, TIERS_MJ[1])
