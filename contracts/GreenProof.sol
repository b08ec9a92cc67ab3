// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @notice The generated Groth16 verifier of circuits/efficiency.circom (public inputs, in order:
///         efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment).
interface IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[6] calldata input
    ) external view returns (bool);

    function verifyBatch(uint256[8][] calldata proofs, uint256[6][] calldata inputs) external view returns (bool);
}

/// @notice The Eco Credit token; GreenProof is its one fixed minter (EcoCredit.setMinter at deploy time).
interface IEcoCreditMinter {
    function mint(address to, uint256 amount) external;
}

/// @title GreenProof v2: on-chain verification of EcoAI efficiency proofs (energy per unit of useful work)
/// @notice A registered node proves, once per epoch, that the energy it spent per unit of useful work stayed at or
///         below one efficiency tier τ (µJ per unit) of its efficiency class: 1000 · Σ energy_mJ ≤ τ · W, with W
///         the epoch's work units. An accepted epoch credits the node's beneficiary with the energy saved against
///         the class's baseline efficiency β for the work actually done:
///             credits = (β − τ) · min(W, maxUnitsPerSecond · epochLength) · 10^18 / 3.6e12   (ECO-wei),
///         i.e. 1 ECO per kWh saved. Zero work never earns (minWorkPerEpoch ≥ 1). Credits are minted at claim.
///         Proofs are accepted one by one (`submit`, by the node) or in batches (`submitBatch`, by anybody).
/// @dev Governance (DEFAULT_ADMIN_ROLE) is meant to be the DAO's timelock or multisig. GOVERNOR_ROLE sets the
///      efficiency classes, regions, epoch schedule and admits/retires nodes; PAUSER_ROLE pauses submit,
///      submitBatch, claim and claimTo. Parameters in force AT SUBMIT TIME are used: an epoch is credited with
///      its class's baseline, tiers, cap and the region's carbon factor as they are when its proof is accepted
///      (not as they were during the epoch); only the epoch's length comes from the schedule of that epoch.
contract GreenProof is AccessControl, Pausable {
    /// @notice Role that manages the node registry and the governed parameters.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Role that pauses and unpauses submit, submitBatch and claim.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice The BN254 scalar field order r: every public input must be below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Most efficiency tiers a class can have.
    uint256 public constant MAX_TIERS = 5;
    /// @notice Upper bound on a region's carbon factor, g CO2/kWh.
    uint256 public constant MAX_GRAMS_PER_KWH = 1 << 20;
    /// @notice Microjoules per kWh: credits = (β − τ) µJ/unit · units · 10^18 / UJ_PER_KWH.
    uint256 public constant UJ_PER_KWH = 3.6e12;

    uint256 private constant MJ_GRAMS_DIVISOR = 3.6e6; // mJ * (g/kWh) / 3.6e6 = mg
    uint256 private constant SUBMISSION_BYTES = 448; // one Submission in calldata: 14 words
    uint256 private constant MAX_METHOD = 2; // 0 measured, 1 estimated, 2 replayed
    // Public inputs of the efficiency circuit, in order.
    uint256 private constant IN_TIER = 0;
    uint256 private constant IN_WORK = 1;
    uint256 private constant IN_EPOCH = 2;
    uint256 private constant IN_NODE = 3;
    uint256 private constant IN_METHODS = 4;
    uint256 private constant IN_COMMITMENT = 5;

    /// @notice One item of a batch: a node's proof for one epoch. 14 calldata words, no dynamic parts.
    struct Submission {
        address node;
        uint64 epoch;
        uint8 tier;
        uint64 work;
        uint8 methods;
        uint256 commitment;
        uint256[8] proof;
    }

    /// @notice A segment of the epoch schedule: from `origin` (unix s) on, epoch firstEpoch + k covers
    ///         [origin + k·length, origin + (k+1)·length). Segments never overlap; epoch numbers only grow.
    struct Segment {
        uint64 origin;
        uint64 firstEpoch;
        uint64 length;
    }

    /// @dev A node, one storage slot (160 + 32 + 16 + 16 + 8 + 24 bits): what every submission reads.
    struct Node {
        address beneficiary;
        uint32 admittedAt; // unix seconds (until 2106)
        uint16 classIndex; // index + 1 into _classIds; 0 = none
        uint16 regionIndex; // index + 1 into _regionIds; 0 = none
        bool active;
        uint24 index; // the node's place in the acceptance bitmap, from 1, given at first admission, never reused
    }

    /// @dev The parameters a submission reads: slot 0 baseline, count and tiers; slot 1 work bounds and flag.
    struct ClassParams {
        uint32 baselineUjPerUnit;
        uint8 tierCount;
        uint32[5] tiersUjPerUnit;
        uint64 minWorkPerEpoch;
        uint64 maxUnitsPerSecond;
        bool requireMeasured;
    }

    /// @dev The descriptive labels of a class (views only).
    struct ClassLabels {
        bytes32 hardwareClass;
        bytes32 workload;
        bytes32 unit;
    }

    /// @dev What a submission loop keeps in memory: storage reads shared by consecutive items (class, region,
    ///      schedule, acceptance window) and the writes pending until the run of items sharing them ends (one
    ///      acceptance word, one beneficiary's accrual).
    struct Run {
        uint256 classIndex; // the cached class (0: none yet)
        ClassParams params;
        bytes32 classId;
        uint256 regionIndex; // the cached region (0: none yet)
        uint256 gramsPerKwh;
        uint256 origin; // the schedule's last segment
        uint256 firstEpoch;
        uint256 length;
        uint256 maxAge;
        uint256 wordKey; // pending bitmap word: its key + 1 (0: none)
        uint256 word;
        address pendingBeneficiary; // pending accrual (0: none)
        uint256 pendingCredits;
    }

    /// @notice The Groth16 verifier of the efficiency circuit.
    IGroth16Verifier public immutable verifier;
    /// @notice The Eco Credit token minted at claim time.
    IEcoCreditMinter public immutable credit;

    /// @notice Seconds after an epoch's end during which its proof is still accepted.
    uint64 public maxEpochAge;

    /// @notice Accrued, not yet claimed credits (ECO-wei) per beneficiary.
    mapping(address beneficiary => uint256) public accrued;

    Segment[] private _schedule;
    mapping(address node => Node) private _nodes;
    // Accepted (node, epoch) pairs, in blocks of 16 epochs × 16 nodes per word (_acceptedKey): a fleet's batch
    // of one epoch and a node's queue of consecutive epochs both share words, so one storage write serves up to
    // 16 items. The full record is in EpochProved.
    mapping(uint256 key => uint256) private _accepted;
    uint24 private _nodeCount; // node indices given so far
    bytes32[] private _classIds;
    mapping(bytes32 classId => uint16) private _classIndex; // index + 1
    mapping(uint256 classIndex => ClassParams) private _classParams;
    mapping(uint256 classIndex => ClassLabels) private _classLabels;
    bytes32[] private _regionIds;
    mapping(bytes32 region => uint16) private _regionIndex; // index + 1
    mapping(uint256 regionIndex => uint256) private _gramsPerKwh;

    /// @notice A node's epoch was accepted and its credits accrued to the beneficiary. This event is the epoch's
    ///         full public record (storage keeps only one bit per epoch: isAccepted). The small fields are packed
    ///         in two words (`record`, `amounts`) because a batch emits one event per epoch and every topic or data
    ///         word costs gas (oracle.conventions.decode_epoch_record unpacks them). The energy bound the proof
    ///         implies is ceil(τ · W / 1000) mJ, from the event's own fields.
    /// @param node The node whose proof it is (a public input of the proof).
    /// @param epoch The proven epoch (a public input of the proof).
    /// @param classId The node's efficiency class.
    /// @param record From the low bits: the beneficiary credited (160: the node's registered beneficiary at submit
    ///        time), the tier index (8), methods (8: energy_method | work_method << 4; 0 measured, 1 estimated,
    ///        2 replayed), the work units W (64, a public input).
    /// @param commitment Poseidon commitment to the epoch's energy and work series (public input).
    /// @param amounts From the low bits: the proven tier τ (32: energy per work unit was at most this, µJ per
    ///        unit), the carbon bound ceil(ceil(τ · W / 1000) · gramsPerKwh / 3.6e6) mg CO2 (96), the credits
    ///        accrued, ECO-wei (128).
    event EpochProved(
        address indexed node,
        uint64 indexed epoch,
        bytes32 classId,
        uint256 record,
        uint256 commitment,
        uint256 amounts
    );
    /// @notice A batch was accepted as a whole (its EpochProved events precede this one).
    /// @param relayer The account that sent it.
    /// @param count Number of epochs accepted.
    /// @param batchHash keccak256 of the items' ABI encodings concatenated (448 bytes each, in order).
    event BatchSettled(address indexed relayer, uint256 count, bytes32 batchHash);
    /// @notice A beneficiary's accrued credits were minted.
    /// @param beneficiary The wallet whose accrued credits were claimed.
    /// @param to The receiver of the minted credits.
    /// @param amount Credits minted, ECO-wei.
    event CreditsClaimed(address indexed beneficiary, address indexed to, uint256 amount);
    /// @notice A node was admitted, or its registration updated.
    /// @param node The node's address (its proofs bind it; it sends its single submissions).
    /// @param beneficiary The wallet credited for the node's epochs.
    /// @param classId The node's efficiency class.
    /// @param region The node's grid region.
    /// @param label A human-readable name of the node (emitted only).
    /// @param admittedAt The admission time: epochs that started before it are never credited.
    event NodeAdmitted(
        address indexed node,
        address indexed beneficiary,
        bytes32 indexed classId,
        bytes32 region,
        string label,
        uint64 admittedAt
    );
    /// @notice A node was retired: its later submissions revert.
    /// @param node The node's address.
    event NodeRetired(address indexed node);
    /// @notice An efficiency class was set (created or updated).
    /// @param classId The class id (e.g. "H200/llm-8b/token").
    /// @param hardwareClass The hardware class (e.g. "H200").
    /// @param workload The workload (model or job).
    /// @param unit The work unit ("token", "image", "request", ...).
    /// @param qualityFloor The quality the DAO accepts for this class (emitted only).
    /// @param baselineUjPerUnit Baseline efficiency β, µJ per unit.
    /// @param tiersUjPerUnit Efficiency tiers τ, µJ per unit, ascending, each below β.
    /// @param minWorkPerEpoch Least work units an epoch needs to be accepted (≥ 1).
    /// @param maxUnitsPerSecond Work rate cap: W counts at most maxUnitsPerSecond · epoch length.
    /// @param requireMeasured Whether only measured energy and work (methods == 0) are accepted.
    event EfficiencyClassSet(
        bytes32 indexed classId,
        bytes32 hardwareClass,
        bytes32 workload,
        bytes32 unit,
        string qualityFloor,
        uint256 baselineUjPerUnit,
        uint256[] tiersUjPerUnit,
        uint256 minWorkPerEpoch,
        uint256 maxUnitsPerSecond,
        bool requireMeasured
    );
    /// @notice A region's carbon factor was set.
    /// @param region The region name as bytes32.
    /// @param gramsPerKwh Grams of CO2 per kWh.
    event RegionCarbonSet(bytes32 indexed region, uint256 gramsPerKwh);
    /// @notice A segment was appended to (or replaced the pending last segment of) the epoch schedule.
    /// @param origin Start of the segment's first epoch, unix seconds.
    /// @param firstEpoch The segment's first epoch number.
    /// @param length Seconds per epoch in the segment.
    event EpochScheduleChanged(uint64 origin, uint64 firstEpoch, uint64 length);
    /// @notice The acceptance window after an epoch's end was set.
    /// @param maxEpochAge Seconds after an epoch's end during which its proof is accepted.
    event MaxEpochAgeSet(uint64 maxEpochAge);

    /// @notice The node is not an active registered node.
    error NodeNotActive(address node);
    /// @notice The epoch has not ended yet at this block's timestamp.
    error EpochNotEnded(uint64 epoch, uint64 currentEpoch);
    /// @notice The epoch ended more than maxEpochAge seconds ago.
    error EpochTooOld(uint64 epoch, uint64 currentEpoch);
    /// @notice The epoch started before the node was admitted.
    error EpochBeforeAdmission(uint64 epoch, uint64 admittedAt);
    /// @notice This (node, epoch) was already accepted.
    error EpochAlreadyProved(address node, uint64 epoch);
    /// @notice This (node, epoch) appears twice in one batch.
    error DuplicateInBatch(address node, uint64 epoch);
    /// @notice A public input is not below the BN254 scalar field order (aliasing).
    error InputNotInField(uint256 value);
    /// @notice The node's class has no tier with this index.
    error UnknownTier(bytes32 classId, uint8 tier);
    /// @notice The epoch's work is below the class's minimum (W = 0 always is).
    error WorkBelowMinimum(uint64 work, uint64 minWorkPerEpoch);
    /// @notice The methods code is invalid, or the class requires measured energy and work (methods == 0).
    error MethodNotAccepted(uint8 methods);
    /// @notice The proof is valid, but for another tier than the one submitted.
    error TierMismatch(uint8 tier, uint8 provenTier);
    /// @notice The verifier rejected the proof.
    error InvalidProof();
    /// @notice The batch's multi-pairing check failed: at least one proof is invalid for its inputs.
    error InvalidBatchProof();
    /// @notice submitBatch got no items.
    error EmptyBatch();
    /// @notice The efficiency class does not exist.
    error UnknownClass(bytes32 classId);
    /// @notice The region has no carbon factor.
    error UnknownRegion(bytes32 region);
    /// @notice A class or region name is empty.
    error EmptyName();
    /// @notice Baseline is 0 or does not fit in 32 bits.
    error InvalidBaseline(uint256 baselineUjPerUnit);
    /// @notice Tiers must be 1..MAX_TIERS values, strictly ascending, above 0 and below the baseline.
    error InvalidTiers();
    /// @notice minWorkPerEpoch must be ≥ 1 and maxUnitsPerSecond > 0, both below 2^64.
    error InvalidWorkBounds(uint256 minWorkPerEpoch, uint256 maxUnitsPerSecond);
    /// @notice Carbon factor above MAX_GRAMS_PER_KWH.
    error InvalidCarbonFactor(uint256 gramsPerKwh);
    /// @notice Epoch length and max epoch age must be above 0.
    error InvalidDuration();
    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice All 2^24 − 1 node indices are given.
    error TooManyNodes();
    /// @notice The beneficiary has no accrued credits.
    error NothingToClaim(address beneficiary);

    /// @param admin Governance: receives DEFAULT_ADMIN_ROLE, GOVERNOR_ROLE and PAUSER_ROLE.
    /// @param verifier_ The generated Groth16Verifier of the efficiency circuit.
    /// @param credit_ EcoCredit; its deployer then fixes this contract as its one minter (EcoCredit.setMinter).
    /// @param epochLength_ Initial epoch length in seconds: the schedule starts as (0, 0, epochLength_), so
    ///        epoch = floor(t / epochLength_) until the first setEpochLength.
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
        if (epochLength_ == 0) revert InvalidDuration();
        verifier = verifier_;
        credit = credit_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _schedule.push(Segment(0, 0, epochLength_));
        emit EpochScheduleChanged(0, 0, epochLength_);
        _setMaxEpochAge(maxEpochAge_);
    }

    // ---------------------------------------------------------------- submissions

    /// @notice Submits the caller's proof that in `epoch` it spent at most tier `tier`'s µJ per unit of work for
    ///         `work` units. Public inputs: [tiers[tier], work, epoch, uint160(msg.sender), methods, commitment].
    ///         Credits (parameters in force now, see the contract notice) accrue to the node's beneficiary.
    /// @param epoch Epoch number; it must have ended (at most maxEpochAge ago) and started after admission.
    /// @param tier Index into the node's class tiers.
    /// @param work The epoch's work units W (≥ the class's minWorkPerEpoch).
    /// @param methods energy_method | (work_method << 4), each 0 measured, 1 estimated, 2 replayed.
    /// @param commitment Poseidon commitment to the epoch's series (public input of the proof).
    /// @param proof Groth16 proof [a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y].
    function submit(
        uint64 epoch,
        uint8 tier,
        uint64 work,
        uint8 methods,
        uint256 commitment,
        uint256[8] calldata proof
    ) external whenNotPaused {
        // The public inputs, with the tier INDEX in word 0 until _item replaces it by the tier's value.
        uint256[6] memory input;
        input[IN_TIER] = tier;
        input[IN_WORK] = work;
        input[IN_EPOCH] = epoch;
        input[IN_NODE] = uint160(msg.sender);
        input[IN_METHODS] = methods;
        input[IN_COMMITMENT] = commitment;
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := input
        }
        Run memory run = _newRun();
        if (!_item(run, ptr)) revert EpochAlreadyProved(msg.sender, epoch);
        uint256 gasBefore = gasleft();
        if (!_verify(proof, input)) _revertProofFailure(tier, proof, input, gasBefore - gasleft());
        _flush(run);
    }

    /// @notice Accepts a batch of epoch proofs, of any nodes, all or nothing, verified together with one
    ///         multi-pairing (Groth16Verifier.verifyBatch). Anybody may relay a batch: every check of `submit`
    ///         applies to each item, with `item.node` in place of msg.sender.
    /// @dev Why relaying cannot redirect credits: each proof binds its node and epoch as public inputs (a relayer
    ///      who changes `node` or `epoch` invalidates the proof), and credits go to the node's beneficiary
    ///      registered by governance, never to msg.sender. A relayer can only delay or withhold a proof, and
    ///      the node can always submit it itself. Reverts with the first failing item's error, DuplicateInBatch
    ///      for a (node, epoch) twice in the batch, or InvalidBatchProof when the pairing fails. Emits one
    ///      EpochProved per item, then BatchSettled. Consecutive items with the same beneficiary accrue with
    ///      one storage write, and consecutive items in the same acceptance word (the same 16-epoch block and
    ///      16 node indices: order a fleet's batch by node) set their bits with one.
    /// @param items The submissions (14 calldata words each).
    function submitBatch(Submission[] calldata items) external whenNotPaused {
        uint256 n = items.length;
        if (n == 0) revert EmptyBatch();
        // The verifyBatch calldata, built in place: selector, two offsets, n, the proofs (8 words each), n, the
        // inputs (6 words each); the loop copies each item's proof and writes its inputs straight into it.
        uint256 callStart;
        uint256 inputsAt;
        bytes4 selector = IGroth16Verifier.verifyBatch.selector;
        assembly ("memory-safe") {
            callStart := mload(0x40)
            mstore(0x40, add(callStart, add(add(132, mul(n, 448)), 32)))
            mstore(callStart, selector)
            mstore(add(callStart, 4), 0x40)
            mstore(add(callStart, 36), add(0x60, mul(n, 256)))
            mstore(add(callStart, 68), n)
            inputsAt := add(callStart, add(132, mul(n, 256)))
            mstore(sub(inputsAt, 32), n)
        }

        Run memory run = _newRun();
        for (uint256 i = 0; i < n; ++i) {
            uint256 ptr = inputsAt + i * 192;
            assembly ("memory-safe") {
                let item := add(items.offset, mul(i, 448))
                calldatacopy(add(add(callStart, 100), mul(i, 256)), add(item, 192), 256)
                let node := calldataload(item)
                let epoch := calldataload(add(item, 32))
                let tier := calldataload(add(item, 64))
                let work := calldataload(add(item, 96))
                let methods := calldataload(add(item, 128))
                // The ABI types' bounds (what Solidity's decoder checks): dirty high bits revert.
                if or(or(shr(160, node), shr(64, epoch)), or(or(shr(8, tier), shr(64, work)), shr(8, methods))) {
                    revert(0, 0)
                }
                mstore(ptr, tier)
                mstore(add(ptr, 32), work)
                mstore(add(ptr, 64), epoch)
                mstore(add(ptr, 96), node)
                mstore(add(ptr, 128), methods)
                mstore(add(ptr, 160), calldataload(add(item, 160)))
            }
            if (!_item(run, ptr)) _revertAlreadyProved(items, i);
        }
        _flush(run);

        address verifierAddress = address(verifier);
        bool ok;
        bytes32 batchHash;
        assembly ("memory-safe") {
            ok := staticcall(gas(), verifierAddress, callStart, add(132, mul(n, 448)), 0, 32)
            ok := and(ok, and(eq(returndatasize(), 32), eq(mload(0), 1)))
            // batchHash over the items' calldata, reusing the call buffer (no longer needed).
            calldatacopy(callStart, items.offset, mul(n, 448))
            batchHash := keccak256(callStart, mul(n, 448))
        }
        if (!ok) revert InvalidBatchProof();
        emit BatchSettled(msg.sender, n, batchHash);
    }

    /// @notice Mints the caller's accrued credits to the caller.
    /// @return amount Credits minted (ECO-wei).
    function claim() external whenNotPaused returns (uint256 amount) {
        return _claim(msg.sender);
    }

    /// @notice Mints the caller's accrued credits to `to`.
    /// @param to Receiver of the credits.
    /// @return amount Credits minted (ECO-wei).
    function claimTo(address to) external whenNotPaused returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        return _claim(to);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Sets (creates or updates) an efficiency class. Updates apply to every later submission,
    ///         including of epochs that ended before the update (parameters at submit time).
    /// @param classId Class id as bytes32 (e.g. "H200/llm-8b/token"), not zero.
    /// @param hardwareClass Hardware class label (e.g. "H200").
    /// @param workload Workload label (model or job, e.g. "llm-8b").
    /// @param unit Work unit label ("token", "image", "request", ...).
    /// @param qualityFloor The quality the DAO accepts (e.g. "bf16 or better"); emitted only.
    /// @param baselineUjPerUnit Baseline efficiency β, µJ per unit: 0 < β < 2^32.
    /// @param tiersUjPerUnit 1..MAX_TIERS tiers, µJ per unit, strictly ascending, each 0 < τ < β.
    /// @param minWorkPerEpoch Least work units an accepted epoch has: 1 ≤ min < 2^64.
    /// @param maxUnitsPerSecond Cap on credited work per second of epoch: 0 < cap < 2^64.
    /// @param requireMeasured Accept only methods == 0 (measured energy and measured work).
    function setEfficiencyClass(
        bytes32 classId,
        bytes32 hardwareClass,
        bytes32 workload,
        bytes32 unit,
        string calldata qualityFloor,
        uint256 baselineUjPerUnit,
        uint256[] calldata tiersUjPerUnit,
        uint256 minWorkPerEpoch,
        uint256 maxUnitsPerSecond,
        bool requireMeasured
    ) external onlyRole(GOVERNOR_ROLE) {
        if (classId == bytes32(0)) revert EmptyName();
        // _classSlot reads classId again from calldata: ten arguments fill the stack.
        uint256 index = _classSlot();
        _classParams[index] = _classParamsOf(baselineUjPerUnit, tiersUjPerUnit, minWorkPerEpoch,
            maxUnitsPerSecond, requireMeasured);
        _classLabels[index] = ClassLabels(hardwareClass, workload, unit);
        _emitClassSet(index, qualityFloor);
    }

    /// @notice Admits (or updates) a node. A new node, or one re-admitted after retirement, gets
    ///         admittedAt = now: it is never credited for an epoch that started before. Updating an active node
    ///         (beneficiary, class, region, label) keeps its admission time.
    /// @param node The node's address (its proofs bind it).
    /// @param beneficiary Wallet whose accrued credits grow with the node's accepted epochs.
    /// @param classId An efficiency class (setEfficiencyClass).
    /// @param region A region with a carbon factor (setRegionCarbon).
    /// @param label A human-readable node name, emitted only.
    function admitNode(address node, address beneficiary, bytes32 classId, bytes32 region, string calldata label)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        if (node == address(0) || beneficiary == address(0)) revert ZeroAddress();
        uint16 classIndex = _classIndex[classId];
        if (classIndex == 0) revert UnknownClass(classId);
        uint16 regionIndex = _regionIndex[region];
        if (regionIndex == 0) revert UnknownRegion(region);
        Node storage stored = _nodes[node];
        uint32 admittedAt = stored.active ? stored.admittedAt : uint32(block.timestamp);
        uint24 index = stored.index;
        if (index == 0) {
            if (_nodeCount == type(uint24).max) revert TooManyNodes();
            index = ++_nodeCount;
        }
        _nodes[node] = Node(beneficiary, admittedAt, classIndex, regionIndex, true, index);
        emit NodeAdmitted(node, beneficiary, classId, region, label, admittedAt);
    }

    /// @notice Retires an active node: its later submissions revert with NodeNotActive.
    /// @param node The node's address.
    function retireNode(address node) external onlyRole(GOVERNOR_ROLE) {
        if (!_nodes[node].active) revert NodeNotActive(node);
        _nodes[node].active = false;
        emit NodeRetired(node);
    }

    /// @notice Sets a grid region's carbon factor, used for the public carbon bound of accepted epochs.
    /// @param region Region name as bytes32 (e.g. "KR"), right-padded with zero bytes.
    /// @param gramsPerKwh Grams of CO2 per kWh (at most MAX_GRAMS_PER_KWH; 0 is allowed).
    function setRegionCarbon(bytes32 region, uint256 gramsPerKwh) external onlyRole(GOVERNOR_ROLE) {
        if (region == bytes32(0)) revert EmptyName();
        if (gramsPerKwh > MAX_GRAMS_PER_KWH) revert InvalidCarbonFactor(gramsPerKwh);
        uint256 index = _regionIndex[region];
        if (index == 0) {
            _regionIds.push(region);
            index = _regionIds.length;
            _regionIndex[region] = uint16(index);
        }
        _gramsPerKwh[index] = gramsPerKwh;
        emit RegionCarbonSet(region, gramsPerKwh);
    }

    /// @notice Changes the epoch length from the end of the current epoch on: appends the segment
    ///         (origin = end of the current epoch, firstEpoch = current epoch + 1, newEpochLength). Epochs already
    ///         numbered keep their bounds, so no stretch of time is ever in two epochs and nothing is credited
    ///         twice. A second change before that epoch starts replaces the pending segment.
    /// @param newEpochLength Seconds, above 0.
    function setEpochLength(uint64 newEpochLength) external onlyRole(GOVERNOR_ROLE) {
        if (newEpochLength == 0) revert InvalidDuration();
        uint256 last = _schedule.length - 1;
        if (_schedule[last].origin > block.timestamp) {
            // Not started yet: it was itself appended at the end of the current epoch, which stays so.
            _schedule[last].length = newEpochLength;
            Segment memory pending = _schedule[last];
            emit EpochScheduleChanged(pending.origin, pending.firstEpoch, newEpochLength);
            return;
        }
        uint64 current = _epochAt(block.timestamp);
        (, uint256 end) = _epochBounds(current);
        _schedule.push(Segment(uint64(end), current + 1, newEpochLength)); // the current epoch's end: < 2^64
        emit EpochScheduleChanged(uint64(end), current + 1, newEpochLength);
    }

    /// @notice Sets how long after an epoch's end its proof is accepted.
    /// @param newMaxEpochAge Seconds, above 0.
    function setMaxEpochAge(uint64 newMaxEpochAge) external onlyRole(GOVERNOR_ROLE) {
        _setMaxEpochAge(newMaxEpochAge);
    }

    /// @notice Pauses submit, submitBatch, claim and claimTo.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes submit, submitBatch, claim and claimTo.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The epoch that contains the current block's timestamp.
    /// @return The current epoch number.
    function currentEpoch() external view returns (uint64) {
        return _epochAt(block.timestamp);
    }

    /// @notice The epoch that contains `timestamp` (unix seconds).
    /// @param timestamp Unix seconds.
    /// @return The epoch number.
    function epochAt(uint64 timestamp) external view returns (uint64) {
        return _epochAt(timestamp);
    }

    /// @notice An epoch's time span [start, end), unix seconds (uint256: a far-future epoch's end may pass 2^64).
    /// @param epoch The epoch number.
    /// @return start First second of the epoch.
    /// @return end First second after the epoch.
    function epochBounds(uint64 epoch) external view returns (uint256 start, uint256 end) {
        return _epochBounds(epoch);
    }

    /// @notice The epoch schedule: segments in time order (the last may start in the future).
    /// @return The segments.
    function schedule() external view returns (Segment[] memory) {
        return _schedule;
    }

    /// @notice Whether `node` has an accepted proof for `epoch`.
    /// @param node The node's address.
    /// @param epoch The epoch number.
    /// @return True once accepted.
    function isAccepted(address node, uint64 epoch) external view returns (bool) {
        (uint256 word, uint256 bit) = acceptedWord(node, epoch);
        return (word >> bit) & 1 == 1;
    }

    /// @notice The acceptance word holding (node, epoch), shared by 16 epochs × 16 nodes, and the bit of the pair
    ///         in it. A node never admitted has no word: (0, 0).
    /// @param node The node's address.
    /// @param epoch The epoch number.
    /// @return word The bitmap word.
    /// @return bit The bit of (node, epoch): 16 · (epoch mod 16) + (node index mod 16).
    function acceptedWord(address node, uint64 epoch) public view returns (uint256 word, uint256 bit) {
        uint256 index = _nodes[node].index;
        if (index == 0) return (0, 0);
        uint256 key;
        (key, bit) = _acceptedKey(index, epoch);
        word = _accepted[key];
    }

    /// @notice A node's registration.
    /// @param node The node's address.
    /// @return beneficiary Wallet credited for the node's epochs.
    /// @return classId The node's efficiency class.
    /// @return region The node's grid region.
    /// @return active Whether the node may submit.
    /// @return admittedAt Admission time (unix seconds).
    function nodeInfo(address node)
        external
        view
        returns (address beneficiary, bytes32 classId, bytes32 region, bool active, uint64 admittedAt)
    {
        Node memory n = _nodes[node];
        classId = n.classIndex == 0 ? bytes32(0) : _classIds[n.classIndex - 1];
        region = n.regionIndex == 0 ? bytes32(0) : _regionIds[n.regionIndex - 1];
        return (n.beneficiary, classId, region, n.active, n.admittedAt);
    }

    /// @notice An efficiency class's parameters (all zero / empty for an unknown class).
    /// @param classId The class id.
    /// @return hardwareClass Hardware class label.
    /// @return workload Workload label.
    /// @return unit Work unit label.
    /// @return baselineUjPerUnit Baseline β, µJ per unit.
    /// @return tiersUjPerUnit Tiers τ, ascending.
    /// @return minWorkPerEpoch Least work per accepted epoch.
    /// @return maxUnitsPerSecond Work rate cap.
    /// @return requireMeasured Whether only measured submissions are accepted.
    function efficiencyClass(bytes32 classId)
        external
        view
        returns (
            bytes32 hardwareClass,
            bytes32 workload,
            bytes32 unit,
            uint256 baselineUjPerUnit,
            uint256[] memory tiersUjPerUnit,
            uint256 minWorkPerEpoch,
            uint256 maxUnitsPerSecond,
            bool requireMeasured
        )
    {
        uint256 index = _classIndex[classId];
        ClassParams memory p = _classParams[index];
        ClassLabels memory l = _classLabels[index];
        tiersUjPerUnit = new uint256[](p.tierCount);
        for (uint256 i = 0; i < p.tierCount; ++i) {
            tiersUjPerUnit[i] = p.tiersUjPerUnit[i];
        }
        return (l.hardwareClass, l.workload, l.unit, p.baselineUjPerUnit, tiersUjPerUnit, p.minWorkPerEpoch,
            p.maxUnitsPerSecond, p.requireMeasured);
    }

    /// @notice The ids of every efficiency class, in creation order.
    /// @return The class ids.
    function classIds() external view returns (bytes32[] memory) {
        return _classIds;
    }

    /// @notice What an epoch of `work` units at tier `tier` of class `classId` would be credited now
    ///         (parameters in force now; the cap uses the length of `epoch` in the schedule).
    /// @param classId The class id.
    /// @param tier Tier index.
    /// @param work Work units W.
    /// @param epoch The epoch (for its length).
    /// @return ECO-wei.
    function creditsFor(bytes32 classId, uint8 tier, uint64 work, uint64 epoch) external view returns (uint256) {
        ClassParams memory p = _classParams[_classIndex[classId]];
        if (tier >= p.tierCount) revert UnknownTier(classId, tier);
        (uint256 start, uint256 end) = _epochBounds(epoch);
        return _credits(p, p.tiersUjPerUnit[tier], work, end - start);
    }

    /// @notice A region's carbon factor, g CO2/kWh (0 for an unknown region).
    /// @param region The region name as bytes32.
    /// @return The carbon factor.
    function carbonFactorOf(bytes32 region) external view returns (uint256) {
        return _gramsPerKwh[_regionIndex[region]];
    }

    // ---------------------------------------------------------------- internals

    /// @dev A fresh Run: the schedule's last segment and the acceptance window read once per transaction.
    function _newRun() private view returns (Run memory run) {
        Segment memory last = _schedule[_schedule.length - 1];
        run.origin = last.origin;
        run.firstEpoch = last.firstEpoch;
        run.length = last.length;
        run.maxAge = maxEpochAge;
    }

    /// @dev One submission: every check (in the order of the errors' list), uniqueness (returns false when
    ///      (node, epoch) is already accepted or pending in `run`, before any effect), the bitmap bit, the tier's
    ///      value into input word 0, the credits (parameters in force now), EpochProved, and the accrual (pending
    ///      in `run` until the beneficiary changes or _flush). `ptr` holds the 6 public-input words with the tier
    ///      index in word 0. The proof is the caller's.
    function _item(Run memory run, uint256 ptr) private returns (bool) {
        uint256 packed; // the node's registration slot
        assembly ("memory-safe") {
            mstore(0, mload(add(ptr, 96)))
            mstore(32, _nodes.slot)
            packed := sload(keccak256(0, 64))
        }
        // beneficiary 160 | admittedAt 32 | classIndex 16 | regionIndex 16 | active 8 | index 24 (from the low bits).
        if ((packed >> 224) & 0xff == 0) revert NodeNotActive(address(uint160(_word(ptr, IN_NODE))));
        uint256 length = _check(run, ptr, packed);
        if (!_mark(run, packed >> 232, _word(ptr, IN_EPOCH))) return false;
        uint256 tier = _word(ptr, IN_TIER);
        uint256 tierValue = run.params.tiersUjPerUnit[tier];
        assembly ("memory-safe") {
            mstore(ptr, tierValue)
        }
        uint256 credits = _credits(run.params, tierValue, _word(ptr, IN_WORK), length);
        uint256 region = uint16(packed >> 208);
        if (region != run.regionIndex) {
            run.regionIndex = region;
            run.gramsPerKwh = _gramsPerKwh[region];
        }
        address beneficiary = address(uint160(packed));
        _emitProved(run, tier, ptr, credits, beneficiary);
        if (beneficiary != run.pendingBeneficiary) {
            if (run.pendingCredits != 0) accrued[run.pendingBeneficiary] += run.pendingCredits;
            run.pendingBeneficiary = beneficiary;
            run.pendingCredits = credits;
        } else {
            unchecked {
                run.pendingCredits += credits; // each < 2^115 (_credits)
            }
        }
        return true;
    }

    /// @dev Every check of one submission except activity (the caller's), uniqueness and the proof, with the node's
    ///      registration slot `packed`; loads the node's class into `run` (parameters in force now) unless cached.
    ///      Returns the epoch's length.
    function _check(Run memory run, uint256 ptr, uint256 packed) private view returns (uint256) {
        uint256 epoch = _word(ptr, IN_EPOCH);
        uint256 start; // uint256: a far-future epoch's end may pass 2^64 (then EpochNotEnded, not a Panic)
        uint256 end;
        unchecked {
            // epoch and the segment's fields are below 2^64: no term reaches 2^129.
            if (epoch >= run.firstEpoch) {
                start = run.origin + (epoch - run.firstEpoch) * run.length;
                end = start + run.length;
            } else {
                (start, end) = _epochBounds(uint64(epoch));
            }
            if (end > block.timestamp) revert EpochNotEnded(uint64(epoch), _epochAt(block.timestamp));
            if (block.timestamp - end > run.maxAge) revert EpochTooOld(uint64(epoch), _epochAt(block.timestamp));
        }
        uint256 admittedAt = uint32(packed >> 160);
        if (start < admittedAt) revert EpochBeforeAdmission(uint64(epoch), uint64(admittedAt));
        // The other public inputs are below r by their types (uint32 tier, uint64, uint160, uint8).
        uint256 commitment = _word(ptr, IN_COMMITMENT);
        if (commitment >= SNARK_SCALAR_FIELD) revert InputNotInField(commitment);
        uint256 classIndex = uint16(packed >> 192);
        if (classIndex != run.classIndex) {
            run.classIndex = classIndex;
            run.params = _classParams[classIndex];
            run.classId = _classIdAt(classIndex);
        }
        uint256 tier = _word(ptr, IN_TIER);
        if (tier >= run.params.tierCount) revert UnknownTier(run.classId, uint8(tier));
        uint64 work = uint64(_word(ptr, IN_WORK));
        if (work < run.params.minWorkPerEpoch) revert WorkBelowMinimum(work, run.params.minWorkPerEpoch);
        uint256 methods = _word(ptr, IN_METHODS);
        if ((methods & 0x0f) > MAX_METHOD || (methods >> 4) > MAX_METHOD || (run.params.requireMeasured && methods != 0))
        {
            revert MethodNotAccepted(uint8(methods));
        }
        unchecked {
            return end - start;
        }
    }

    /// @dev Sets (node `index`, epoch)'s bit in `run`'s pending bitmap word, first writing the pending word out
    ///      when this item's is another; returns false when the bit was already set (in storage or earlier in the
    ///      run).
    function _mark(Run memory run, uint256 index, uint256 epoch) private returns (bool) {
        (uint256 key, uint256 bit) = _acceptedKey(index, uint64(epoch));
        if (key + 1 != run.wordKey) {
            if (run.wordKey != 0) _accepted[run.wordKey - 1] = run.word;
            run.wordKey = key + 1;
            run.word = _accepted[key];
        }
        uint256 mask = 1 << bit;
        if (run.word & mask != 0) return false;
        run.word |= mask;
        return true;
    }

    /// @dev The acceptance word of (node index, epoch), and the pair's bit in it: 16 epochs × 16 node indices per
    ///      word (the index < 2^24 leaves 20 bits for index >> 4).
    function _acceptedKey(uint256 index, uint64 epoch) private pure returns (uint256 key, uint256 bit) {
        key = (uint256(epoch >> 4) << 20) | (index >> 4);
        bit = (uint256(epoch & 15) << 4) | (index & 15);
    }

    /// @dev _classIds[classIndex - 1] without the array's length check (one cold read less per batch): a node's
    ///      classIndex always names an existing class (admitNode).
    function _classIdAt(uint256 classIndex) private view returns (bytes32 classId) {
        assembly ("memory-safe") {
            mstore(0, _classIds.slot)
            classId := sload(add(keccak256(0, 32), sub(classIndex, 1)))
        }
    }

    /// @dev Writes `run`'s pending bitmap word and accrual.
    function _flush(Run memory run) private {
        if (run.wordKey != 0) _accepted[run.wordKey - 1] = run.word;
        if (run.pendingCredits != 0) accrued[run.pendingBeneficiary] += run.pendingCredits;
    }

    function _word(uint256 ptr, uint256 index) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := mload(add(ptr, mul(index, 32)))
        }
    }

    /// @dev Item i's (node, epoch) is already accepted: DuplicateInBatch when an earlier item of the batch has
    ///      it, EpochAlreadyProved otherwise. Only on the failure path.
    function _revertAlreadyProved(Submission[] calldata items, uint256 i) private pure {
        address node = items[i].node;
        uint64 epoch = items[i].epoch;
        for (uint256 j = 0; j < i; ++j) {
            if (items[j].node == node && items[j].epoch == epoch) revert DuplicateInBatch(node, epoch);
        }
        revert EpochAlreadyProved(node, epoch);
    }

    /// @dev credits = (β − τ) · min(W, maxUnitsPerSecond · length) · 10^18 / UJ_PER_KWH, ECO-wei. No overflow:
    ///      τ < β < 2^32 (setEfficiencyClass), W < 2^64 and the cap < 2^128, so the product < 2^156; the result
    ///      < 2^115.
    function _credits(ClassParams memory params, uint256 tierValue, uint256 work, uint256 length)
        private
        pure
        returns (uint256)
    {
        unchecked {
            uint256 cap = uint256(params.maxUnitsPerSecond) * length;
            uint256 counted = work < cap ? work : cap;
            return (params.baselineUjPerUnit - tierValue) * counted * 1e18 / UJ_PER_KWH;
        }
    }

    /// @dev Emits EpochProved (one LOG3 from scratch memory past the free pointer) with the carbon bound
    ///      ceil(ceil(τ·W/1000) mJ · g/kWh / 3.6e6) mg, the region's factor in force now (`run`). `ptr`: the
    ///      inputs, tier value in word 0.
    function _emitProved(Run memory run, uint256 tier, uint256 ptr, uint256 credits, address beneficiary) private {
        uint256 carbonBoundMg;
        unchecked {
            // τ · W < 2^96 and the energy bound times g/kWh (≤ 2^20) < 2^106: the ceilings cannot overflow.
            uint256 energyBoundMj = (_word(ptr, IN_TIER) * _word(ptr, IN_WORK) + 999) / 1000;
            carbonBoundMg = (energyBoundMj * run.gramsPerKwh + (MJ_GRAMS_DIVISOR - 1)) / MJ_GRAMS_DIVISOR;
        }
        bytes32 topic = EpochProved.selector;
        bytes32 classId = run.classId;
        // Field bounds: tier < 5, methods < 2^8, W < 2^64, τ < 2^32, carbon bound < 2^85 and credits < 2^115
        // (_credits), so the packed fields never overlap.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, classId)
            mstore(add(m, 32), or(or(beneficiary, shl(160, tier)), or(shl(168, mload(add(ptr, 128))),
                shl(176, mload(add(ptr, 32))))))
            mstore(add(m, 64), mload(add(ptr, 160)))
            mstore(add(m, 96), or(or(mload(ptr), shl(32, carbonBoundMg)), shl(128, credits)))
            log3(m, 128, topic, mload(add(ptr, 96)), mload(add(ptr, 64)))
        }
    }

    function _claim(address to) private returns (uint256 amount) {
        amount = accrued[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        accrued[msg.sender] = 0;
        credit.mint(to, amount);
        emit CreditsClaimed(msg.sender, to, amount);
    }

    function _setMaxEpochAge(uint64 newMaxEpochAge) internal {
        if (newMaxEpochAge == 0) revert InvalidDuration();
        maxEpochAge = newMaxEpochAge;
        emit MaxEpochAgeSet(newMaxEpochAge);
    }

    /// @dev The index + 1 of setEfficiencyClass's class (its first argument), creating the class when new.
    function _classSlot() private returns (uint256 index) {
        bytes32 classId;
        assembly ("memory-safe") {
            classId := calldataload(4)
        }
        index = _classIndex[classId];
        if (index == 0) {
            _classIds.push(classId);
            index = _classIds.length;
            _classIndex[classId] = uint16(index);
        }
    }

    /// @dev EfficiencyClassSet from what was just stored (the same values as the arguments).
    function _emitClassSet(uint256 index, string calldata qualityFloor) private {
        ClassParams memory p = _classParams[index];
        ClassLabels memory l = _classLabels[index];
        uint256[] memory tiers = new uint256[](p.tierCount);
        for (uint256 i = 0; i < p.tierCount; ++i) {
            tiers[i] = p.tiersUjPerUnit[i];
        }
        emit EfficiencyClassSet(_classIds[index - 1], l.hardwareClass, l.workload, l.unit, qualityFloor,
            p.baselineUjPerUnit, tiers, p.minWorkPerEpoch, p.maxUnitsPerSecond, p.requireMeasured);
    }

    function _classParamsOf(
        uint256 baseline,
        uint256[] calldata tiers,
        uint256 minWork,
        uint256 maxUnitsPerSecond,
        bool requireMeasured
    ) private pure returns (ClassParams memory p) {
        if (baseline == 0 || baseline > type(uint32).max) revert InvalidBaseline(baseline);
        uint256 count = tiers.length;
        if (count == 0 || count > MAX_TIERS) revert InvalidTiers();
        if (minWork == 0 || minWork > type(uint64).max || maxUnitsPerSecond == 0 || maxUnitsPerSecond > type(uint64).max) {
            revert InvalidWorkBounds(minWork, maxUnitsPerSecond);
        }
        uint256 previous = 0;
        for (uint256 i = 0; i < count; ++i) {
            uint256 t = tiers[i];
            if (t <= previous || t >= baseline) revert InvalidTiers();
            p.tiersUjPerUnit[i] = uint32(t);
            previous = t;
        }
        p.baselineUjPerUnit = uint32(baseline);
        p.tierCount = uint8(count);
        p.minWorkPerEpoch = uint64(minWork);
        p.maxUnitsPerSecond = uint64(maxUnitsPerSecond);
        p.requireMeasured = requireMeasured;
    }

    /// @dev The segment holding `epoch`: the last one with firstEpoch ≤ epoch (usually the last). In uint256:
    ///      (epoch − firstEpoch) · length may pass 2^64 for a far-future epoch.
    function _epochBounds(uint64 epoch) private view returns (uint256 start, uint256 end) {
        uint256 i = _schedule.length;
        Segment memory s;
        do {
            s = _schedule[--i];
        } while (s.firstEpoch > epoch);
        start = uint256(s.origin) + uint256(epoch - s.firstEpoch) * s.length;
        end = start + s.length;
    }

    /// @dev The epoch holding `timestamp`: the last segment with origin ≤ timestamp.
    function _epochAt(uint256 timestamp) private view returns (uint64) {
        uint256 i = _schedule.length;
        Segment memory s;
        do {
            s = _schedule[--i];
        } while (s.origin > timestamp);
        return uint64(s.firstEpoch + (timestamp - s.origin) / s.length);
    }

    /// @dev verifier.verifyProof for one proof. A revert of the verifier (e.g. out of gas) is a rejection.
    function _verify(uint256[8] calldata proof, uint256[6] memory input) private view returns (bool) {
        try verifier.verifyProof(
            [proof[0], proof[1]], [[proof[2], proof[3]], [proof[4], proof[5]]], [proof[6], proof[7]], input
        ) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    /// @dev Only on the failure path: tells a proof made for another tier of the class (TierMismatch) from an
    ///      invalid one (InvalidProof). `spent` is what the first verification cost: a point the pairing
    ///      precompile refuses burns nearly all the gas it is given, so with less left the proof is invalid.
    function _revertProofFailure(uint8 tier, uint256[8] calldata proof, uint256[6] memory input, uint256 spent)
        private
        view
    {
        ClassParams memory params = _classParams[_nodes[msg.sender].classIndex];
        for (uint256 i = 0; i < params.tierCount && gasleft() > spent; ++i) {
            if (i != tier) {
                input[IN_TIER] = params.tiersUjPerUnit[i];
                if (_verify(proof, input)) revert TierMismatch(tier, uint8(i));
            }
        }
        revert InvalidProof();
    }
}
