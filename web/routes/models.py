"""Response models of the JSON API (its OpenAPI schema at /api/openapi.json is generated from them).

Units: energy in mJ, carbon in mg CO2, credits in wei of ECO as decimal strings (they exceed 2^53).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class IndexerInfo(BaseModel):
    running: bool
    last_error: str | None
    reorgs: int


class Health(BaseModel):
    status: str = Field(description="always 'ok' when the server answers")
    indexed_block: int | None
    head_block: int | None
    indexer: IndexerInfo | None = Field(description="null when this server does not follow the chain")
    chain_id: int | None


class Totals(BaseModel):
    nodes: int
    proofs: int
    threshold_mj_total: int = Field(description="energy bound: sum of the thresholds of every accepted proof, mJ")
    carbon_bound_mg: int
    credits_earned_wei: str
    credits_claimed_wei: str
    credits_minted_wei: str
    claims: int


class EpochTotals(BaseModel):
    epoch: int
    proofs: int
    threshold_mj_total: int
    carbon_bound_mg: int
    credits_eco: float


class NodeSummary(BaseModel):
    node: str
    beneficiary: str | None
    hardware_class: str | None
    region: str | None
    active: bool
    proofs: int
    threshold_mj_total: int = Field(description="energy bound: sum of the node's proven thresholds, mJ")
    carbon_bound_mg: int
    credits_wei: str
    saved_share_pct: float = Field(description="share of the class baseline saved, 0-100: "
                                               "100·Σ(baseline − threshold)/Σ baseline (not the Eco Score)")
    last_epoch: int | None


class Leaderboard(BaseModel):
    sort: str
    page: int
    size: int
    total: int
    pages: int
    nodes: list[NodeSummary]


class NodeDetail(NodeSummary):
    rank: int | None = Field(description="position by credits")
    first_epoch: int | None


class ProofRow(BaseModel):
    epoch: int
    tier: int
    threshold_mj: int
    carbon_bound_mg: int
    credits_wei: str
    block: int
    timestamp: int
    tx_hash: str


class NodeProofs(BaseModel):
    node: str
    page: int
    size: int
    total: int
    pages: int
    proofs: list[ProofRow]


class Proof(ProofRow):
    node: str
    beneficiary: str
    commitment: str
    log_index: int
    gas_used: int | None
    public_signals: list[str] = Field(description="[threshold_mj, epoch, node, commitment] as decimal strings")


class Verification(BaseModel):
    tx_hash: str
    public_signals: list[str]
    error: str | None = Field(None, description="why the proof could not be re-verified (then nothing else)")
    proof: list[str] | None = Field(None, description="the uint256[8] proof read from the submit calldata")
    onchain: bool | None = None
    onchain_detail: str | None = None
    python: bool | None = None
    python_detail: str | None = None


class Claim(BaseModel):
    tx_hash: str
    to: str
    amount_wei: str
    block: int


class Account(BaseModel):
    address: str
    claimable_wei: str
    claimable: str
    balance_wei: str
    balance: str
    claims: list[Claim]


class HardwareClass(BaseModel):
    hardware_class: str
    baseline_mj: int
    tiers_mj: list[int]
    block: int


class Region(BaseModel):
    region: str
    grams_per_kwh: int
    block: int


class ParameterChange(BaseModel):
    name: str = Field(description="HardwareClassSet, RegionCarbonSet, EpochLengthSet or MaxEpochAgeSet")
    args: dict[str, str | int | list[str | int]]
    block: int
    timestamp: int | None
    tx_hash: str


class Parameters(BaseModel):
    epoch_length_s: int | None
    max_epoch_age_s: int | None
    hardware_classes: list[HardwareClass]
    regions: list[Region]
    history: list[ParameterChange]
