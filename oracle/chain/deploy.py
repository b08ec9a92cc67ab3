"""Deploy the EcoAI contracts with Ape (`ape run deploy` via scripts/deploy.py, `ecoai up`, the tests); the two
governance helpers below go through oracle.chain.governance, the one governance writer.

    from oracle.chain.deploy import deploy_local, admit_node, set_epoch_length
    deployment = deploy_local("http://127.0.0.1:8545")          # writes <state>/deployments/local.json
    admit_node(deployment, url, node, beneficiary, "H200", "KR")
    set_epoch_length(deployment, url, 5)

Parameters come from a TOML file (default: oracle/chain/default_params.toml) in watts per hardware class;
`DeployParams.energy_mj` turns watts into mJ per epoch, the unit GreenProof stores.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from oracle.chain.deployment import ContractRef, Deployment, default_path
from oracle.chain.governance import Governor
from oracle.chain.keys import NodeKey
from oracle.conventions import label_to_bytes32
from oracle.errors import UsageError
from oracle.paths import REPO_ROOT, SOLCX_DIR

DEFAULT_PARAMS = Path(__file__).with_name("default_params.toml")
LOCAL_NETWORK = "ethereum:local"
CONTRACTS = ("Groth16Verifier", "EcoCredit", "GreenProof")


@dataclass(frozen=True)
class HardwareClass:
    baseline_w: Fraction
    tiers_w: tuple[Fraction, ...]


@dataclass(frozen=True)
class DeployParams:
    epoch_length_s: int
    max_epoch_age_s: int
    hardware_classes: dict[str, HardwareClass]
    regions: dict[str, int]  # g CO2e per kWh
    admin: str | None = None  # governance address; None: the deployer keeps every role

    def energy_mj(self, watts: Fraction) -> int:
        """Energy of `watts` over one epoch in mJ (W × s × 1000), which must be a whole number."""
        mj = watts * self.epoch_length_s * 1000
        if mj.denominator != 1:
            raise UsageError(f"deploy params: {float(watts)} W × {self.epoch_length_s} s is not a whole mJ")
        return int(mj)

    def class_energy(self, name: str) -> tuple[int, list[int]]:
        """(baseline mJ, tiers mJ) per epoch of a hardware class."""
        hc = self.hardware_classes[name]
        return self.energy_mj(hc.baseline_w), [self.energy_mj(w) for w in hc.tiers_w]

    def to_dict(self) -> dict[str, Any]:
        """The parameters as stored in the deployment file: watts as given, and the mJ values deployed."""
        classes = {}
        for name, hc in self.hardware_classes.items():
            baseline_mj, tiers_mj = self.class_energy(name)
            classes[name] = {"baseline_w": _number(hc.baseline_w), "tiers_w": [_number(w) for w in hc.tiers_w],
                             "baseline_mj": baseline_mj, "tiers_mj": tiers_mj}
        return {"epoch_length_s": self.epoch_length_s, "max_epoch_age_s": self.max_epoch_age_s,
                "hardware_classes": classes, "regions_g_per_kwh": dict(self.regions), "admin": self.admin}


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _watts(value: object, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UsageError(f"deploy params: {where} must be a positive number of watts, got {value!r}")
    return Fraction(value)


def _positive_int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"deploy params: {key} must be a positive integer, got {value!r}")
    return value


def _label(name: str, where: str) -> None:
    try:
        label_to_bytes32(name)
    except ValueError as exc:
        raise UsageError(f"deploy params: {where}: {exc}") from None


def load_params(path: Path | None = None) -> DeployParams:
    """Reads and checks a params file (default: oracle/chain/default_params.toml); bad content → UsageError."""
    path = Path(path) if path is not None else DEFAULT_PARAMS
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"deploy params: {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"deploy params: {path} is not TOML: {exc}") from None
    classes: dict[str, HardwareClass] = {}
    raw_classes = data.get("hardware_classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        raise UsageError("deploy params: [hardware_classes.<name>] needs at least one class")
    for name, hc in raw_classes.items():
        if not isinstance(hc, dict) or not isinstance(hc.get("tiers_w"), list) or not hc["tiers_w"]:
            raise UsageError(f"deploy params: hardware_classes.{name} needs baseline_w and a list tiers_w")
        _label(name, f"hardware_classes.{name}")
        classes[name] = HardwareClass(_watts(hc.get("baseline_w"), f"hardware_classes.{name}.baseline_w"),
                                      tuple(_watts(w, f"hardware_classes.{name}.tiers_w") for w in hc["tiers_w"]))
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise UsageError("deploy params: [regions] needs at least one region = g CO2e per kWh")
    for name, grams in regions.items():
        _label(name, f"regions.{name}")
        if isinstance(grams, bool) or not isinstance(grams, int) or grams < 0:
            raise UsageError(f"deploy params: regions.{name} must be a whole number of g CO2e/kWh ≥ 0")
    admin = data.get("admin") or None
    if admin is not None and not (isinstance(admin, str) and admin.startswith("0x") and len(admin) == 42):
        raise UsageError(f"deploy params: admin must be a 0x address or empty, got {admin!r}")
    params = DeployParams(_positive_int(data, "epoch_length_s"), _positive_int(data, "max_epoch_age_s"),
                          classes, dict(regions), admin)
    for name in classes:
        params.class_energy(name)  # every value must be a whole mJ
    return params


def ape_project() -> Any:
    """The checkout's Ape project (compiles into .build/ on first use, with the checkout's own solc shim)."""
    os.environ.setdefault("SOLCX_BINARY_PATH", str(SOLCX_DIR))
    from ape import Project

    return Project(REPO_ROOT)


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """An Ape connection to an already-running local node (anvil) at `url`."""
    from ape import networks

    with networks.parse_network_choice("ethereum:local:foundry", provider_settings={"host": url}) as provider:
        yield provider


def _abi(container: Any) -> list[dict[str, Any]]:
    return container.contract_type.model_dump(mode="json", by_alias=True, exclude_none=True)["abi"]


def deploy_stack(sender: Any, params: DeployParams, network: str) -> Deployment:
    """Deploys Groth16Verifier, EcoCredit and GreenProof on Ape's connected network, grants GreenProof the
    MINTER_ROLE, sets every hardware class and region, and hands the roles to `params.admin` when given.
    Returns the Deployment (not yet saved)."""
    from ape import chain

    project = ape_project()
    verifier = project.Groth16Verifier.deploy(sender=sender)
    first_block = chain.provider.get_receipt(verifier.txn_hash).block_number
    credit = project.EcoCredit.deploy(sender.address, sender=sender)
    green = project.GreenProof.deploy(sender.address, verifier.address, credit.address, params.epoch_length_s,
                                      params.max_epoch_age_s, sender=sender)
    credit.grantRole(credit.MINTER_ROLE(), green.address, sender=sender)
    for name in params.hardware_classes:
        baseline_mj, tiers_mj = params.class_energy(name)
        green.setHardwareClass(label_to_bytes32(name), baseline_mj, tiers_mj, sender=sender)
    for name, grams in params.regions.items():
        green.setRegionCarbon(label_to_bytes32(name), grams, sender=sender)
    if params.admin is not None and params.admin.lower() != sender.address.lower():
        _hand_over(green, credit, sender, params.admin)
    return Deployment(
        network=network,
        chain_id=chain.chain_id,
        block=first_block,
        deployed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        contracts={name: _ref(project, name, contract.address)
                   for name, contract in zip(CONTRACTS, (verifier, credit, green), strict=True)},
        params=params.to_dict(),
    )


def _ref(project: Any, name: str, address: str) -> ContractRef:
    return ContractRef(address, _abi(getattr(project, name)))


def _hand_over(green: Any, credit: Any, sender: Any, admin: str) -> None:
    """Grants every role to governance, then the deployer renounces its own (admin role last)."""
    roles = [green.GOVERNOR_ROLE(), green.PAUSER_ROLE(), green.DEFAULT_ADMIN_ROLE()]
    for role in roles:
        green.grantRole(role, admin, sender=sender)
    credit.grantRole(credit.DEFAULT_ADMIN_ROLE(), admin, sender=sender)
    for role in roles:
        green.renounceRole(role, sender.address, sender=sender)
    credit.renounceRole(credit.DEFAULT_ADMIN_ROLE(), sender.address, sender=sender)


def deploy_local(url: str, params: DeployParams | Path | None = None, out: Path | None = None) -> Deployment:
    """Deploys the stack onto the local node at `url` from anvil's first dev account and writes the deployment
    file (default `<state>/deployments/local.json`). Returns the Deployment."""
    if not isinstance(params, DeployParams):
        params = load_params(params)
    with connect(url):
        from ape import accounts

        deployment = deploy_stack(accounts.test_accounts[0], params, LOCAL_NETWORK)
    deployment.save(out or default_path(LOCAL_NETWORK))
    return deployment


def admit_node(deployment: Deployment, url: str, node: str, beneficiary: str, hardware_class: str, region: str,
               governor: NodeKey | None = None) -> None:
    """Admits (or updates) `node` on the chain at `url`; `governor` defaults to anvil's first dev account, the
    local deployer and governor."""
    Governor.at(url, deployment, governor).admit_node(node, beneficiary, hardware_class, region)


def set_epoch_length(deployment: Deployment, url: str, seconds: int, governor: NodeKey | None = None) -> None:
    """Sets GreenProof's epoch length on the chain at `url` (the oracles must use the same value)."""
    Governor.at(url, deployment, governor).set_epoch_length(seconds)
