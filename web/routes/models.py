"""Response models of the JSON API (its OpenAPI schema at /api/openapi.json is generated from them).

Units: energy in mJ, efficiency in µJ per unit of work (lower is better), carbon in mg CO2, credits in wei of
ECO as decimal strings (they exceed 2^53). 1 ECO = 1 kWh saved compared with doing the same work at the
class's baseline efficiency. Every model forbids extra fields: the schema lists exactly what an answer holds.
"""

from __future__ import annotations


from pydantic import BaseModel, ConfigDict, Field

Method = str  # "measured", "estimated", "replayed" (or "unknown (n)" for a code the contract rejects)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexerInfo(Model):
    running: bool
    last_error: str | None
    reorgs: int


class Health(Model):
    status: str = Field(description="always 'ok' when the server answers")
    indexed_block: int | None
    head_block: int | None
    indexer: IndexerInfo | None = Field(description="null when this server does not follow the chain")
    chain_id: int | None


class Totals(Model):
    nodes: int
    proofs: int
    energy_bound_mj_total: int = Field(description="sum of the energy bounds ceil(τ·W/1000) of every accepted "
                                                   "epoch, mJ: an upper bound of the energy the proofs cover")
    carbon_bound_mg: int
    credits_earned_wei: str
    credits_claimed_wei: str
    credits_minted_wei: str
    credits_retired_wei: str = Field(description="ECO burned by retirements (RetirementCertificate), wei")
    claims: int
    retirements: int = Field(description="retirement certificates issued")
    settlements: int = Field(description="transactions that settled accepted epochs (a batch counts once)")


class EpochTotals(Model):
    epoch: int
    epoch_start: int | None = Field(description="unix seconds, from the epoch schedule")
    proofs: int
    energy_bound_mj_total: int
    carbon_bound_mg: int
    credits_eco: float


class EfficiencyClass(Model):
    class_id: str
    hardware_class: str
    workload: str
    unit: str
    quality_floor: str
    baseline_uj_per_unit: int = Field(description="β: the class's baseline energy per unit of work, µJ")
    tiers_uj_per_unit: list[int] = Field(description="efficiency tiers τ a proof can claim, µJ per unit")
    min_work_per_epoch: int
    max_units_per_second: int
    require_measured: bool
    nodes: int
    block: int = Field(description="block of the EfficiencyClassSet that set these values")


class NodeSummary(Model):
    node: str
    label: str | None = Field(description="the node's name from NodeAdmitted")
    beneficiary: str | None
    class_id: str | None
    hardware_class: str | None
    unit: str | None = Field(description="the class's unit of work")
    region: str | None
    active: bool
    proofs: int
    work_units_total: int
    energy_bound_mj_total: int
    carbon_bound_mg: int
    credits_wei: str
    efficiency_uj_per_unit: float | None = Field(
        description="work-weighted mean of the proven tiers, µJ per unit (lower is better); null: no proof")
    eco_score: float | None = Field(
        description="100 × max(0, 1 − Σ τ·W / Σ β·W): share of the class baseline energy saved for the work done "
                    "(oracle.carbon.ecoscore.epochs_eco_score; docs/eco-score.md)")
    last_epoch: int | None


class LeaderboardRow(NodeSummary):
    position: int = Field(description="rank under the chosen ordering (within the class when one is chosen)")


class Leaderboard(Model):
    sort: str
    class_id: str | None = Field(description="the class ranked within (efficiency ranks only within a class)")
    page: int
    size: int
    total: int
    pages: int
    nodes: list[LeaderboardRow]


class NodeDetail(NodeSummary):
    admitted_at: int | None = Field(description="unix seconds: epochs that started earlier are never credited")
    rank: int | None = Field(description="position by credits over all nodes")
    class_rank: int | None = Field(description="position by efficiency within its class")
    first_epoch: int | None
    footprint_mj: int | None = Field(description="energy the node itself spent sampling and proving; null: the "
                                                 "node does not report it to this index")


class ProofRow(Model):
    epoch: int
    epoch_start: int | None
    epoch_end: int | None
    class_id: str
    tier: int
    efficiency_uj_per_unit: int = Field(description="the proven tier τ: energy per unit was at most this, µJ")
    work_units: int
    energy_method: Method
    work_method: Method
    energy_bound_mj: int
    carbon_bound_mg: int
    credits_wei: str
    block: int
    timestamp: int
    tx_hash: str
    batch_size: int = Field(description="epochs settled by the same transaction (1: a single submit)")


class NodeProofs(Model):
    node: str
    page: int
    size: int
    total: int
    pages: int
    proofs: list[ProofRow]


class SettledEpoch(Model):
    node: str
    epoch: int


class Proof(ProofRow):
    node: str
    beneficiary: str
    methods: int = Field(description="energy method | work method << 4 (0 measured, 1 estimated, 2 replayed)")
    commitment: str
    baseline_uj_per_unit: int | None = Field(description="the class baseline β when the epoch was indexed")
    log_index: int
    gas_used: int | None = Field(description="gas of the whole settling transaction")
    settled_by: str | None = Field(description="sender of the settling transaction (the node or a relayer)")
    settled_with: list[SettledEpoch] = Field(description="the epochs the same transaction settled (first 50)")
    public_signals: list[str] = Field(description="[efficiency_uj_per_unit, work_units_total, epoch, node, methods, "
                                                  "commitment] as decimal strings (snarkjs public.json)")
    proof_available: bool = Field(description="whether proof.json can be downloaded (read from the calldata)")


class Verification(Model):
    tx_hash: str
    public_signals: list[str]
    error: str | None = Field(None, description="why the proof could not be re-verified (then nothing else)")
    proof: list[str] | None = Field(None, description="the uint256[8] proof read from the settling calldata")
    onchain: bool | None = None
    onchain_detail: str | None = None
    python: bool | None = None
    python_detail: str | None = None
    stored: bool | None = Field(None, description="true: answered from the stored result of an earlier check")
    verified_at: float | None = Field(None, description="unix time of that check")


class Claim(Model):
    tx_hash: str
    to: str
    amount_wei: str
    block: int


class Account(Model):
    address: str
    claimable_wei: str
    claimable: str
    balance_wei: str
    balance: str
    claims: list[Claim]


class Region(Model):
    region: str
    grams_per_kwh: int
    block: int


class ScheduleSegment(Model):
    origin: int = Field(description="unix seconds: start of the segment's first epoch")
    first_epoch: int
    length: int = Field(description="seconds per epoch")


class ParameterChange(Model):
    name: str = Field(description="EfficiencyClassSet, RegionCarbonSet, EpochScheduleChanged or MaxEpochAgeSet")
    args: dict[str, str | int | bool | list[str | int]]
    block: int
    timestamp: int | None
    tx_hash: str


class Parameters(Model):
    epoch_length_s: int | None = Field(description="length of the newest schedule segment")
    schedule: list[ScheduleSegment]
    max_epoch_age_s: int | None
    classes: list[EfficiencyClass]
    regions: list[Region]
    history: list[ParameterChange]


class Retirement(Model):
    token_id: int
    holder: str
    amount_wei: str
    beneficiary_name: str
    message: str
    block: int
    timestamp: int
    tx_hash: str


class Retirements(Model):
    page: int
    size: int
    total: int
    pages: int
    retired_wei: str
    certificates: list[Retirement]
