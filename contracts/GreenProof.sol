// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice The generated Groth16 verifier of circuits/energy_budget.circom (public inputs:
///         threshold_mj, epoch, node, commitment).
interface IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[4] calldata input
    ) external view returns (bool);
}

/// @notice The Eco Credit token; GreenProof holds its MINTER_ROLE.
interface IEcoCreditMinter {
    function mint(address to, uint256 amount) external;
}

/// @title GreenProof: on-chain verification of EcoAI epoch energy proofs
/// @notice A registered oracle node submits, once per epoch, a Groth16 proof that the energy it measured in
///         that epoch stayed at or below one of its hardware class's threshold tiers. Accepted epochs are
///         recorded publicly (with a carbon bound from the node's grid region) and credit the node's
///         beneficiary with Eco Credits: (baseline - threshold) * 10^18 / 3.6e9, i.e. 1 ECO per kWh saved.
///         Beneficiaries claim accrued credits into their wallets; EcoCredit is minted only at claim time.
/// @dev Governance (DEFAULT_ADMIN_ROLE) is meant to be the DAO's timelock or multisig. GOVERNOR_ROLE sets
///      parameters and admits/retires nodes; PAUSER_ROLE pauses submit and claim. Energies are in mJ per epoch.
contract GreenProof is AccessControl, Pausable {
    /// @notice Role that manages the node registry and the governed parameters.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Role that pauses and unpauses submit and claim.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice The BN254 scalar field order r: every public input must be below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Most threshold tiers a hardware class can have (they share one storage slot with the baseline).
    uint256 public constant MAX_TIERS = 5;
    /// @notice Baselines and tiers are below 2^40 mJ (about 305 kWh per epoch).
    uint256 public constant MAX_ENERGY_MJ = (1 << 40) - 1;
    /// @notice Upper bound on a region's carbon factor, g CO2/kWh (keeps the carbon bound within 64 bits).
    uint256 public constant MAX_GRAMS_PER_KWH = 1 << 20;

    uint256 private constant MJ_PER_KWH = 3.6e9;
    uint256 private constant MJ_GRAMS_DIVISOR = 3.6e6; // mJ * (g/kWh) / 3.6e6 = mg
    uint256 private constant ENERGY_BITS = 40;
    uint256 private constant COUNT_OFFSET = 40;
    uint256 private constant TIERS_OFFSET = 48;

    struct Node {
        address beneficiary;
        bool active;
        bytes32 hardwareClass;
        bytes32 region;
    }

    struct Region {
        uint64 gramsPerKwh;
        bool known;
    }

    /// @notice One accepted epoch, packed into a single storage slot.
    struct EpochRecord {
        uint40 acceptedAt; // block timestamp of acceptance; 0 = not accepted
        uint8 tier;
        uint40 thresholdMj;
        uint64 carbonBoundMg;
        uint96 credits;
    }

    /// @notice The Groth16 verifier of the energy-budget circuit.
    IGroth16Verifier public immutable verifier;
    /// @notice The Eco Credit token minted at claim time.
    IEcoCreditMinter public immutable credit;

    // These two share a slot with Pausable's flag, so submit reads all three with one SLOAD.
    /// @notice Epoch length in seconds: epoch = floor(block.timestamp / epochLength).
    uint64 public epochLength;
    /// @notice Seconds after an epoch's end during which its proof is still accepted.
    uint64 public maxEpochAge;

    /// @notice Accrued, not yet claimed credits (base units) per beneficiary.
    mapping(address beneficiary => uint256) public accrued;

    mapping(address node => Node) private _nodes;
    // Per class: baseline (bits 0-39), tier count (40-47), tier i (48 + 40 i ...), one slot.
    mapping(bytes32 hardwareClass => uint256) private _classes;
    mapping(bytes32 region => Region) private _regions;
    mapping(address node => mapping(uint64 epoch => EpochRecord)) private _records;

    /// @notice A node's epoch proof was accepted and its credits accrued to the beneficiary.
    /// @param node The node that submitted the proof.
    /// @param epoch The proven epoch.
    /// @param beneficiary The wallet credited.
    /// @param tier Index of the proven tier in the node's hardware class.
    /// @param thresholdMj The proven tier's threshold: the epoch's energy was at most this, mJ.
    /// @param commitment Poseidon commitment to the epoch's interval energies (public input of the proof).
    /// @param carbonBoundMg Upper bound of the epoch's carbon, mg CO2 (threshold times the region's factor).
    /// @param credits Credits accrued, base units (18 decimals).
    event EpochProved(
        address indexed node,
        uint64 indexed epoch,
        address indexed beneficiary,
        uint8 tier,
        uint256 thresholdMj,
        uint256 commitment,
        uint256 carbonBoundMg,
        uint256 credits
    );
    /// @notice A beneficiary's accrued credits were minted.
    /// @param beneficiary The wallet whose accrued credits were claimed.
    /// @param to The receiver of the minted credits.
    /// @param amount Credits minted, base units.
    event CreditsClaimed(address indexed beneficiary, address indexed to, uint256 amount);
    /// @notice A node was admitted, or its registration updated.
    /// @param node The node's signing address.
    /// @param beneficiary The wallet credited for the node's epochs.
    /// @param hardwareClass The node's hardware class.
    /// @param region The node's grid region.
    event NodeAdmitted(address indexed node, address indexed beneficiary, bytes32 hardwareClass, bytes32 region);
    /// @notice A node was retired: its later submissions revert.
    /// @param node The node's signing address.
    event NodeRetired(address indexed node);
    /// @notice A hardware class's baseline and tiers were set.
    /// @param hardwareClass The class name as bytes32.
    /// @param baselineMj Baseline energy per epoch, mJ.
    /// @param tiersMj Threshold tiers per epoch, mJ, ascending.
    event HardwareClassSet(bytes32 indexed hardwareClass, uint256 baselineMj, uint256[] tiersMj);
    /// @notice A region's carbon factor was set.
    /// @param region The region name as bytes32.
    /// @param gramsPerKwh Grams of CO2 per kWh.
    event RegionCarbonSet(bytes32 indexed region, uint256 gramsPerKwh);
    /// @notice The epoch length was set.
    /// @param epochLength Seconds per epoch.
    event EpochLengthSet(uint64 epochLength);
    /// @notice The acceptance window after an epoch's end was set.
    /// @param maxEpochAge Seconds after an epoch's end during which its proof is accepted.
    event MaxEpochAgeSet(uint64 maxEpochAge);

    /// @notice The caller (or given node) is not an active registered node.
    error NodeNotActive(address node);
    /// @notice The epoch has not ended yet at this block's timestamp.
    error EpochNotEnded(uint64 epoch, uint64 currentEpoch);
    /// @notice The epoch ended more than maxEpochAge seconds ago.
    error EpochTooOld(uint64 epoch, uint64 currentEpoch);
    /// @notice This (node, epoch) was already accepted.
    error EpochAlreadyProved(address node, uint64 epoch);
    /// @notice A public input is not below the BN254 scalar field order (aliasing).
    error InputNotInField(uint256 value);
    /// @notice The node's hardware class has no tier with this index.
    error UnknownTier(bytes32 hardwareClass, uint8 tier);
    /// @notice The proof is valid, but for another tier's threshold than the one submitted.
    error TierMismatch(uint8 tier, uint8 provenTier);
    /// @notice The verifier rejected the proof.
    error InvalidProof();
    /// @notice The hardware class has no parameters.
    error UnknownHardwareClass(bytes32 hardwareClass);
    /// @notice The region has no carbon factor.
    error UnknownRegion(bytes32 region);
    /// @notice A class or region name is empty.
    error EmptyName();
    /// @notice Baseline is 0 or above MAX_ENERGY_MJ.
    error InvalidBaseline(uint256 baselineMj);
    /// @notice Tiers must be 1..MAX_TIERS values, strictly ascending, above 0 and at most the baseline.
    error InvalidTiers();
    /// @notice Carbon factor above MAX_GRAMS_PER_KWH.
    error InvalidCarbonFactor(uint256 gramsPerKwh);
    /// @notice Epoch length and max epoch age must be above 0.
    error InvalidDuration();
    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice The beneficiary has no accrued credits.
    error NothingToClaim(address beneficiary);

    /// @param admin Governance: receives DEFAULT_ADMIN_ROLE, GOVERNOR_ROLE and PAUSER_ROLE.
    /// @param verifier_ The generated Groth16Verifier.
    /// @param credit_ EcoCredit; this contract must then be granted its MINTER_ROLE.
    /// @param epochLength_ Epoch length in seconds.
    /// @param maxEpochAge_ Seconds after an epoch's end during which its proof is accepted.
    constructor(
        address admin,
        IGroth16Verifier verifier_,
        IEcoCreditMinter credit_,
        uint64 epochLength_,
        uint64 maxEpochAge_
    ) {
        if (admin == address(0) || address(verifier_) == address(0) || address(credit_) == address(0)) {
            revert ZeroAddress();
        }
        verifier = verifier_;
        credit = credit_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _setEpochLength(epochLength_);
        _setMaxEpochAge(maxEpochAge_);
    }

    // ---------------------------------------------------------------- node operations

    /// @notice Submits the proof that the caller's energy in `epoch` stayed at or below tier `tier`'s
    ///         threshold. The public inputs are [tiers[class][tier], epoch, uint160(msg.sender), commitment].
    /// @dev On success records the epoch, accrues the credits to the node's beneficiary, emits EpochProved.
    /// @param epoch Epoch number; it must have ended, at most maxEpochAge seconds ago.
    /// @param tier Index into the node's hardware class tiers.
    /// @param commitment Poseidon commitment to the epoch's readings (public input of the proof).
    /// @param proof Groth16 proof [a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y].
    function submit(uint64 epoch, uint8 tier, uint256 commitment, uint256[8] calldata proof)
        external
        whenNotPaused
    {
        Node storage node = _nodes[msg.sender];
        if (!node.active) revert NodeNotActive(msg.sender);

        uint256 length = epochLength;
        uint256 epochEnd = (uint256(epoch) + 1) * length;
        if (epochEnd > block.timestamp) revert EpochNotEnded(epoch, uint64(block.timestamp / length));
        if (block.timestamp - epochEnd > maxEpochAge) revert EpochTooOld(epoch, uint64(block.timestamp / length));

        EpochRecord storage record = _records[msg.sender][epoch];
        if (record.acceptedAt != 0) revert EpochAlreadyProved(msg.sender, epoch);
        // The other public inputs are below r by their types: threshold < 2^40, epoch < 2^64, node < 2^160.
        if (commitment >= SNARK_SCALAR_FIELD) revert InputNotInField(commitment);

        bytes32 hardwareClass = node.hardwareClass;
        uint256 packed = _classes[hardwareClass];
        if (tier >= _tierCount(packed)) revert UnknownTier(hardwareClass, tier);
        uint256 threshold = _tierAt(packed, tier);
        uint256 gasBefore = gasleft();
        if (!_verify(proof, threshold, epoch, commitment)) {
            _revertProofFailure(packed, tier, proof, epoch, commitment, gasBefore - gasleft());
        }
        _accept(node, epoch, tier, threshold, packed & MAX_ENERGY_MJ, commitment);
    }

    /// @notice Mints the caller's accrued credits to the caller.
    /// @return amount Credits minted (base units).
    function claim() external whenNotPaused returns (uint256 amount) {
        return _claim(msg.sender);
    }

    /// @notice Mints the caller's accrued credits to `to`.
    /// @param to Receiver of the credits.
    /// @return amount Credits minted (base units).
    function claimTo(address to) external whenNotPaused returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        return _claim(to);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Admits (or updates) a node: its key, the wallet credited for its epochs, its class and region.
    /// @param node The node's signing address (msg.sender of submit).
    /// @param beneficiary Wallet whose accrued credits grow with the node's accepted epochs.
    /// @param hardwareClass A class with parameters (see setHardwareClass).
    /// @param region A region with a carbon factor (see setRegionCarbon).
    function admitNode(address node, address beneficiary, bytes32 hardwareClass, bytes32 region)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        if (node == address(0) || beneficiary == address(0)) revert ZeroAddress();
        if (_classes[hardwareClass] == 0) revert UnknownHardwareClass(hardwareClass);
        if (!_regions[region].known) revert UnknownRegion(region);
        _nodes[node] = Node({beneficiary: beneficiary, active: true, hardwareClass: hardwareClass, region: region});
        emit NodeAdmitted(node, beneficiary, hardwareClass, region);
    }

    /// @notice Retires an active node: its later submissions revert with NodeNotActive.
    /// @param node The node's signing address.
    function retireNode(address node) external onlyRole(GOVERNOR_ROLE) {
        if (!_nodes[node].active) revert NodeNotActive(node);
        _nodes[node].active = false;
        emit NodeRetired(node);
    }

    /// @notice Sets a hardware class's baseline energy per epoch and its threshold tiers.
    /// @param hardwareClass Class name as bytes32 (e.g. "H200"), right-padded with zero bytes.
    /// @param baselineMj Baseline energy per epoch, mJ (0 < baseline <= MAX_ENERGY_MJ).
    /// @param tiersMj Thresholds in mJ per epoch: 1..MAX_TIERS values, strictly ascending, each <= baseline.
    function setHardwareClass(bytes32 hardwareClass, uint256 baselineMj, uint256[] calldata tiersMj)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        if (hardwareClass == bytes32(0)) revert EmptyName();
        if (baselineMj == 0 || baselineMj > MAX_ENERGY_MJ) revert InvalidBaseline(baselineMj);
        uint256 count = tiersMj.length;
        if (count == 0 || count > MAX_TIERS) revert InvalidTiers();
        uint256 packed = baselineMj | (count << COUNT_OFFSET);
        uint256 previous = 0;
        for (uint256 i = 0; i < count; ++i) {
            uint256 t = tiersMj[i];
            if (t <= previous || t > baselineMj) revert InvalidTiers();
            packed |= t << (TIERS_OFFSET + ENERGY_BITS * i);
            previous = t;
        }
        _classes[hardwareClass] = packed;
        emit HardwareClassSet(hardwareClass, baselineMj, tiersMj);
    }

    /// @notice Sets a grid region's carbon factor, used for the public carbon bound of accepted epochs.
    /// @param region Region name as bytes32 (e.g. "KR"), right-padded with zero bytes.
    /// @param gramsPerKwh Grams of CO2 per kWh (at most MAX_GRAMS_PER_KWH; 0 is allowed).
    function setRegionCarbon(bytes32 region, uint256 gramsPerKwh) external onlyRole(GOVERNOR_ROLE) {
        if (region == bytes32(0)) revert EmptyName();
        if (gramsPerKwh > MAX_GRAMS_PER_KWH) revert InvalidCarbonFactor(gramsPerKwh);
        _regions[region] = Region({gramsPerKwh: uint64(gramsPerKwh), known: true});
        emit RegionCarbonSet(region, gramsPerKwh);
    }

    /// @notice Sets the epoch length. Epoch numbers are floor(time / length), so a change renumbers epochs:
    ///         change it only together with the oracles.
    /// @param newEpochLength Seconds, above 0.
    function setEpochLength(uint64 newEpochLength) external onlyRole(GOVERNOR_ROLE) {
        _setEpochLength(newEpochLength);
    }

    /// @notice Sets how long after an epoch's end its proof is accepted.
    /// @param newMaxEpochAge Seconds, above 0.
    function setMaxEpochAge(uint64 newMaxEpochAge) external onlyRole(GOVERNOR_ROLE) {
        _setMaxEpochAge(newMaxEpochAge);
    }

    /// @notice Pauses submit, claim and claimTo.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes submit, claim and claimTo.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The epoch that contains the current block's timestamp.
    /// @return The current epoch number.
    function currentEpoch() external view returns (uint64) {
        return uint64(block.timestamp / epochLength);
    }

    /// @notice Whether `node` has an accepted proof for `epoch`.
    /// @param node The node's address.
    /// @param epoch The epoch number.
    /// @return True once accepted.
    function isAccepted(address node, uint64 epoch) external view returns (bool) {
        return _records[node][epoch].acceptedAt != 0;
    }

    /// @notice The stored record of an epoch (all zero when not accepted).
    /// @param node The node's address.
    /// @param epoch The epoch number.
    /// @return The packed epoch record.
    function recordOf(address node, uint64 epoch) external view returns (EpochRecord memory) {
        return _records[node][epoch];
    }

    /// @notice A node's registration.
    /// @param node The node's address.
    /// @return beneficiary Wallet credited for the node's epochs.
    /// @return hardwareClass The node's hardware class.
    /// @return region The node's grid region.
    /// @return active Whether the node may submit.
    function nodeInfo(address node)
        external
        view
        returns (address beneficiary, bytes32 hardwareClass, bytes32 region, bool active)
    {
        Node storage n = _nodes[node];
        return (n.beneficiary, n.hardwareClass, n.region, n.active);
    }

    /// @notice A hardware class's threshold tiers, mJ per epoch (empty for an unknown class).
    /// @param hardwareClass The class name as bytes32.
    /// @return tiersMj The tiers, ascending.
    function tiersOf(bytes32 hardwareClass) external view returns (uint256[] memory tiersMj) {
        uint256 packed = _classes[hardwareClass];
        uint256 count = _tierCount(packed);
        tiersMj = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            tiersMj[i] = _tierAt(packed, i);
        }
    }

    /// @notice A hardware class's baseline energy, mJ per epoch (0 for an unknown class).
    /// @param hardwareClass The class name as bytes32.
    /// @return The baseline in mJ.
    function baselineOf(bytes32 hardwareClass) external view returns (uint256) {
        return _classes[hardwareClass] & MAX_ENERGY_MJ;
    }

    /// @notice A region's carbon factor, g CO2/kWh (0 for an unknown region).
    /// @param region The region name as bytes32.
    /// @return The carbon factor.
    function carbonFactorOf(bytes32 region) external view returns (uint256) {
        return _regions[region].gramsPerKwh;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Records an accepted epoch (one slot), accrues its credits, emits EpochProved.
    function _accept(
        Node storage node,
        uint64 epoch,
        uint8 tier,
        uint256 threshold,
        uint256 baseline,
        uint256 commitment
    ) private {
        uint256 credits = (baseline - threshold) * 1e18 / MJ_PER_KWH;
        uint256 carbonBoundMg = Math.ceilDiv(threshold * _regions[node.region].gramsPerKwh, MJ_GRAMS_DIVISOR);
        address beneficiary = node.beneficiary;
        // The casts never truncate: threshold < 2^40 (MAX_ENERGY_MJ), carbon bound < 2^60 (MAX_GRAMS_PER_KWH),
        // credits < 2^69, and block timestamps stay below 2^40 for 30,000 years.
        _records[msg.sender][epoch] = EpochRecord({
            acceptedAt: uint40(block.timestamp),
            tier: tier,
            thresholdMj: uint40(threshold),
            carbonBoundMg: uint64(carbonBoundMg),
            credits: uint96(credits)
        });
        accrued[beneficiary] += credits;
        emit EpochProved(msg.sender, epoch, beneficiary, tier, threshold, commitment, carbonBoundMg, credits);
    }

    function _claim(address to) private returns (uint256 amount) {
        amount = accrued[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        accrued[msg.sender] = 0;
        credit.mint(to, amount);
        emit CreditsClaimed(msg.sender, to, amount);
    }

    function _setEpochLength(uint64 newEpochLength) internal {
        if (newEpochLength == 0) revert InvalidDuration();
        epochLength = newEpochLength;
        emit EpochLengthSet(newEpochLength);
    }

    function _setMaxEpochAge(uint64 newMaxEpochAge) internal {
        if (newMaxEpochAge == 0) revert InvalidDuration();
        maxEpochAge = newMaxEpochAge;
        emit MaxEpochAgeSet(newMaxEpochAge);
    }

    function _tierCount(uint256 packed) private pure returns (uint256) {
        return (packed >> COUNT_OFFSET) & 0xff;
    }

    function _tierAt(uint256 packed, uint256 i) private pure returns (uint256) {
        return (packed >> (TIERS_OFFSET + ENERGY_BITS * i)) & MAX_ENERGY_MJ;
    }

    /// @dev verifier.verifyProof(a, b, c, [threshold, epoch, node, commitment]) for the caller's proof. A revert
    ///      of the verifier (e.g. out of gas) is a rejection like a false answer.
    function _verify(uint256[8] calldata proof, uint256 threshold, uint64 epoch, uint256 commitment)
        private
        view
        returns (bool)
    {
        try verifier.verifyProof(
            [proof[0], proof[1]],
            [[proof[2], proof[3]], [proof[4], proof[5]]],
            [proof[6], proof[7]],
            [threshold, uint256(epoch), uint256(uint160(msg.sender)), commitment]
        ) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    /// @dev Only on the failure path: tells a proof made for another tier of the class (TierMismatch) from
    ///      an invalid one (InvalidProof), so that an operator sees which of the two went wrong. `spent` is what
    ///      the first verification cost: a proof point the pairing precompile refuses burns nearly all the gas
    ///      it is given, for every tier alike, so when less than that is left the proof is simply invalid.
    function _revertProofFailure(
        uint256 packed,
        uint8 tier,
        uint256[8] calldata proof,
        uint64 epoch,
        uint256 commitment,
        uint256 spent
    ) private view {
        uint256 count = _tierCount(packed);
        for (uint256 i = 0; i < count && gasleft() > spent; ++i) {
            if (i != tier && _verify(proof, _tierAt(packed, i), epoch, commitment)) {
                revert TierMismatch(tier, uint8(i));
            }
        }
        revert InvalidProof();
    }
}
