"""Deploy the EcoAI contracts with Ape (`ape run deploy` via scripts/deploy.py, `ecoai up`, the tests); the two
governance helpers below go through oracle.chain.governance, the one governance writer.

    from oracle.chain.deploy import deploy_local, admit_node, set_epoch_length
    deployment = deploy_local("http://127.0.0.1:8545")          # writes <state>/deployments/local.json
    admit_node(deployment, url, node, beneficiary, "H200/encoder-bf16/item", "KR", "demo node")
    set_epoch_length(deployment, url, 5)

Parameters come from a TOML file (default: oracle/chain/default_params.toml): efficiency classes in µJ per unit
of work (docs/baselines.md derives them; scripts/derive_baselines.py prints them), regions in g CO2e per kWh,
the epoch length and the maximum epoch age. On a network other than a local chain every role goes to the
governance address (`admin`) and the deployer keeps none (`check_role_plan`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oracle.chain.deployment import ContractRef, Deployment, default_path
from oracle.chain.governance import Governor
from oracle.chain.keys import NodeKey
from oracle.conventions import label_to_bytes32
from oracle.errors import UsageError
from oracle.paths import REPO_ROOT, SOLCX_DIR
from oracle.progress import Steps, plural

DEFAULT_PARAMS = Path(__file__).with_name("default_params.toml")
LOCAL_NETWORK = "ethereum:local"
VERIFIER_CONTRACT = "Groth16Verifier"  # generated from the efficiency circuit (6 public inputs, verifyBatch)
# Name in the deployment file → project contract deployed under it (the verifier keeps its v1 file name, which
# oracle.chain.deployment requires).
CONTRACTS = {"Groth16Verifier": VERIFIER_CONTRACT, "EcoCredit": "EcoCredit", "GreenProof": "GreenProof",
             "RetirementCertificate": "RetirementCertificate"}
GREEN_PROOF_ROLES = ("GOVERNOR_ROLE", "PAUSER_ROLE", "DEFAULT_ADMIN_ROLE")  # the admin role is renounced last
MAX_TIERS = 5
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
CLASS_KEYS = ("hardware_class", "workload", "unit", "quality_floor", "baseline_uj_per_unit", "tiers_uj_per_unit",
              "min_work_per_epoch", "max_units_per_second", "require_measured")
label_bytes32 = label_to_bytes32  # the name tests/contracts and bench/gas.py import; same function


@dataclass(frozen=True)
class EfficiencyClass:
    """One efficiency class (GreenProof.setEfficiencyClass): energy per unit of useful work, in µJ per unit."""

    class_id: str  # "<hardware_class>/<workload>/<unit>", e.g. "H200/encoder-bf16/item"
    hardware_class: str
    workload: str
    unit: str
    quality_floor: str
    baseline_uj_per_unit: int
    tiers_uj_per_unit: tuple[int, ...]  # ascending, each < baseline
    min_work_per_epoch: int
    max_units_per_second: int
    require_measured: bool

    def call_args(self) -> tuple[Any, ...]:
        """The arguments of GreenProof.setEfficiencyClass, in its order (labels as bytes32)."""
        return (label_to_bytes32(self.class_id), label_to_bytes32(self.hardware_class),
                label_to_bytes32(self.workload), label_to_bytes32(self.unit), self.quality_floor,
                self.baseline_uj_per_unit, list(self.tiers_uj_per_unit), self.min_work_per_epoch,
                self.max_units_per_second, self.require_measured)

    def to_dict(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v := getattr(self, key), tuple) else v for key in CLASS_KEYS}


@dataclass(frozen=True)
class DeployParams:
    epoch_length_s: int
    max_epoch_age_s: int
    classes: dict[str, EfficiencyClass]
    regions: dict[str, int]  # g CO2e per kWh
    admin: str | None = None  # governance address; None: the deployer keeps every role (local chains only)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as stored in the deployment file's `params`."""
        return {"epoch_length_s": self.epoch_length_s, "max_epoch_age_s": self.max_epoch_age_s,
                "classes": {cid: c.to_dict() for cid, c in self.classes.items()},
                "regions_g_per_kwh": dict(self.regions), "admin": self.admin}


def _fail(field: str, message: str) -> UsageError:
    return UsageError(f"deploy params: {field} {message}")


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _positive_int(data: dict[str, Any], key: str) -> int:
    return _int(data.get(key), key, 1, UINT64_MAX)


def _label(name: object, field: str) -> str:
    if not isinstance(name, str):
        raise _fail(field, f"must be a string, got {name!r}")
    try:
        label_to_bytes32(name)
    except ValueError as exc:
        raise _fail(field, f"is not a label: {exc}") from None
    return name


def _class(class_id: str, raw: object, epoch_length_s: int) -> EfficiencyClass:
    where = f'classes."{class_id}"'
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table")
    unknown = sorted(set(raw) - set(CLASS_KEYS))
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"is not a class field (fields: {', '.join(CLASS_KEYS)})")
    missing = [key for key in CLASS_KEYS if key not in raw]
    if missing:
        raise _fail(f"{where}.{missing[0]}", "is missing")
    _label(class_id, where)
    hardware = _label(raw["hardware_class"], f"{where}.hardware_class")
    workload = _label(raw["workload"], f"{where}.workload")
    unit = _label(raw["unit"], f"{where}.unit")
    if not unit.isascii() or not unit.replace("-", "").replace("_", "").isalnum() or unit.lower() != unit:
        raise _fail(f"{where}.unit", f"must be a lowercase word such as token, image, item; got {unit!r}")
    if class_id != f"{hardware}/{workload}/{unit}":
        raise _fail(where, f"id must be <hardware_class>/<workload>/<unit> = {hardware}/{workload}/{unit}")
    floor = raw["quality_floor"]
    if not isinstance(floor, str) or not floor.strip():
        raise _fail(f"{where}.quality_floor", "must say, in words, the quality the class accepts")
    baseline = _int(raw["baseline_uj_per_unit"], f"{where}.baseline_uj_per_unit", 2, UINT32_MAX)
    tiers = raw["tiers_uj_per_unit"]
    if not isinstance(tiers, list) or not 1 <= len(tiers) <= MAX_TIERS:
        raise _fail(f"{where}.tiers_uj_per_unit", f"must be a list of 1 to {MAX_TIERS} tiers, got {tiers!r}")
    tiers = [_int(t, f"{where}.tiers_uj_per_unit", 1, UINT32_MAX) for t in tiers]
    if any(a >= b for a, b in zip(tiers, tiers[1:])) or tiers[-1] >= baseline:
        raise _fail(f"{where}.tiers_uj_per_unit", f"must ascend strictly and stay below the baseline {baseline}, "
                    f"got {tiers}")
    min_work = _int(raw["min_work_per_epoch"], f"{where}.min_work_per_epoch", 1, UINT64_MAX)
    max_rate = _int(raw["max_units_per_second"], f"{where}.max_units_per_second", 1, UINT64_MAX)
    if max_rate * epoch_length_s < min_work:
        raise _fail(f"{where}.min_work_per_epoch", f"{min_work} exceeds the cap max_units_per_second × "
                    f"epoch_length_s = {max_rate * epoch_length_s}: no epoch could ever earn")
    measured = raw["require_measured"]
    if not isinstance(measured, bool):
        raise _fail(f"{where}.require_measured", f"must be true or false, got {measured!r}")
    return EfficiencyClass(class_id, hardware, workload, unit, floor, baseline, tuple(tiers), min_work, max_rate,
                           measured)


def _address(value: object, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not (isinstance(value, str) and value.startswith("0x") and len(value) == 42):
        raise _fail(field, f"must be a 0x address or empty, got {value!r}")
    try:
        int(value, 16)
    except ValueError:
        raise _fail(field, f"must be a 0x address or empty, got {value!r}") from None
    return value


def load_params(path: Path | None = None) -> DeployParams:
    """Reads and checks a params file (default: oracle/chain/default_params.toml); bad content → one UsageError
    naming the field."""
    path = Path(path) if path is not None else DEFAULT_PARAMS
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"deploy params: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"deploy params: {path} is not TOML: {exc}") from None
    if "hardware_classes" in data:
        raise _fail("hardware_classes", 'is the v1 format (watts per epoch); v2 describes efficiency classes: '
                    '[classes."<hardware>/<workload>/<unit>"] (docs/baselines.md)')
    unknown = sorted(set(data) - {"epoch_length_s", "max_epoch_age_s", "admin", "classes", "regions"})
    if unknown:
        raise _fail(unknown[0], "is not a params field")
    epoch_length_s = _positive_int(data, "epoch_length_s")
    max_epoch_age_s = _positive_int(data, "max_epoch_age_s")
    raw_classes = data.get("classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        raise _fail("classes", 'needs at least one [classes."<hardware>/<workload>/<unit>"] table')
    classes = {cid: _class(cid, raw, epoch_length_s) for cid, raw in raw_classes.items()}
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise _fail("regions", "needs at least one region = g CO2e per kWh")
    for name, grams in regions.items():
        _label(name, f"regions.{name}")
        if isinstance(grams, bool) or not isinstance(grams, int) or grams < 0:
            raise _fail(f"regions.{name}", f"must be a whole number of g CO2e/kWh ≥ 0, got {grams!r}")
    return DeployParams(epoch_length_s, max_epoch_age_s, classes, dict(regions), _address(data.get("admin"), "admin"))


def is_local_network(network: str) -> bool:
    """True for a local development chain (`ethereum:local`, `ethereum:local:foundry`); forks and testnets are
    not local."""
    parts = network.split(":")
    return len(parts) > 1 and parts[1] == "local"


def check_role_plan(network: str, admin: str | None, deployer: str, test_deployment: bool = False) -> None:
    """Decides, before anything is deployed, whether a deploy may run: on a network other than a local chain,
    every role must go to a governance address `admin` that is not the deployer (the deployer keeps none),
    unless `test_deployment` says this is a throwaway deployment. Raises UsageError otherwise."""
    if is_local_network(network) or test_deployment:
        return
    if admin is None:
        raise UsageError(f"deploy on {network}: give the governance address (--admin or the params file's admin): "
                         "on a non-local network every role goes to governance and the deployer keeps none "
                         "(--test-deployment for a throwaway deployment)")
    if admin.lower() == deployer.lower():
        raise UsageError(f"deploy on {network}: the admin {admin} is the deployer key; give the governance "
                         "address (DAO timelock or multisig) so that the deployer keeps no role "
                         "(--test-deployment for a throwaway deployment)")

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


def deploy_stack(sender: Any, params: DeployParams, network: str, test_deployment: bool = False,
                 progress: Steps | None = None) -> Deployment:
    """Deploys the verifier, EcoCredit, GreenProof and RetirementCertificate on Ape's connected network, fixes
    GreenProof as EcoCredit's one minter, sets every efficiency class and region, and hands every GreenProof role
    to `params.admin` when given (the deployer renounces its own). Refuses first (`check_role_plan`) a non-local
    network without a governance admin distinct from the deployer, unless `test_deployment`; checks after the
    hand-over that the deployer holds no role. Returns the Deployment (not yet saved).

    Ape's own per-transaction lines ("Submitted 0x…", "Confirmed 0x…", "Contract … deployed to") are silenced
    here (warnings and errors still show); `progress` (default: lines on stderr) says one line per step."""
    from ape import chain
    from ape.logging import LogLevel, logger

    check_role_plan(network, params.admin, sender.address, test_deployment)
    steps = progress if progress is not None else Steps("deploy", total=7)
    with logger.at_level(LogLevel.WARNING):
        with steps.step("compiling the contracts (first run only) and loading them"):
            project = ape_project()
            verifier_type = getattr(project, VERIFIER_CONTRACT)
        with steps.step("deploying Groth16Verifier"):
            verifier = verifier_type.deploy(sender=sender)
            first_block = chain.provider.get_receipt(verifier.txn_hash).block_number
        with steps.step("deploying EcoCredit"):
            credit = project.EcoCredit.deploy(sender=sender)
        with steps.step("deploying GreenProof and making it EcoCredit's minter"):
            green = project.GreenProof.deploy(sender.address, verifier.address, credit.address,
                                              params.epoch_length_s, params.max_epoch_age_s, sender=sender)
            credit.setMinter(green.address, sender=sender)
        with steps.step("deploying RetirementCertificate"):
            certificate = project.RetirementCertificate.deploy(credit.address, sender=sender)
        with steps.step(f"setting {plural(len(params.classes), 'efficiency class', 'efficiency classes')} and "
                        f"{plural(len(params.regions), 'region')}"):
            for efficiency_class in params.classes.values():
                green.setEfficiencyClass(*efficiency_class.call_args(), sender=sender)
            for name, grams in params.regions.items():
                green.setRegionCarbon(label_to_bytes32(name), grams, sender=sender)
        hand_over = params.admin is not None and params.admin.lower() != sender.address.lower()
        with steps.step(f"handing the roles to governance {params.admin} and checking them" if hand_over
                        else "checking the roles (the deployer keeps them: local chain)"):
            if hand_over:
                assert params.admin is not None
                _hand_over(green, sender, params.admin)
            _check_roles(green, credit, sender.address, params.admin)
    steps.done(f"GreenProof at {green.address}")
    deployed = {"Groth16Verifier": verifier, "EcoCredit": credit, "GreenProof": green,
                "RetirementCertificate": certificate}
    return Deployment(
        network=network,
        chain_id=chain.chain_id,
        block=first_block,
        deployed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        contracts={name: _ref(project, CONTRACTS[name], contract.address) for name, contract in deployed.items()},
        params=params.to_dict(),
    )


def _ref(project: Any, name: str, address: str) -> ContractRef:
    return ContractRef(address, _abi(getattr(project, name)))


def _hand_over(green: Any, sender: Any, admin: str) -> None:
    """Grants every GreenProof role to governance, then the deployer renounces its own (admin role last).
    EcoCredit has no roles: its minter was fixed to GreenProof for ever."""
    roles = [getattr(green, name)() for name in GREEN_PROOF_ROLES]
    for role in roles:
        green.grantRole(role, admin, sender=sender)
    for role in roles:
        green.renounceRole(role, sender.address, sender=sender)


def _check_roles(green: Any, credit: Any, deployer: str, admin: str | None) -> None:
    """After the deploy: GreenProof is EcoCredit's minter, and with a governance admin, governance holds every
    GreenProof role and the deployer none. A failure stops the deploy before its file is written."""
    problems = []
    if credit.minter().lower() != green.address.lower():
        problems.append(f"EcoCredit's minter is {credit.minter()}, not GreenProof {green.address}")
    if admin is not None and admin.lower() != deployer.lower():
        for name in GREEN_PROOF_ROLES:
            role = getattr(green, name)()
            if green.hasRole(role, deployer):
                problems.append(f"the deployer {deployer} still holds GreenProof {name}")
            if not green.hasRole(role, admin):
                problems.append(f"governance {admin} lacks GreenProof {name}")
    if problems:
        raise RuntimeError("deploy left unsafe roles: " + "; ".join(problems))


def deploy_local(url: str, params: DeployParams | Path | None = None, out: Path | None = None,
                 progress: Steps | None = None) -> Deployment:
    """Deploys the stack onto the local node at `url` from anvil's first dev account and writes the deployment
    file (default `<state>/deployments/local.json`). Returns the Deployment. Progress: one line per step on
    stderr (`progress`), none of Ape's per-transaction lines."""
    if not isinstance(params, DeployParams):
        params = load_params(params)
    from ape.logging import LogLevel, logger

    with logger.at_level(LogLevel.WARNING), connect(url):  # no "Connecting to a 'anvil' node." either
        from ape import accounts

        deployment = deploy_stack(accounts.test_accounts[0], params, LOCAL_NETWORK, progress=progress)
    deployment.save(out or default_path(LOCAL_NETWORK))
    return deployment


def admit_node(deployment: Deployment, url: str, node: str, beneficiary: str, class_id: str, region: str,
               label: str = "", governor: NodeKey | None = None) -> None:
    """Admits (or updates) `node` into efficiency class `class_id` (e.g. "H200/encoder-bf16/item") on the chain
    at `url`, crediting `beneficiary`; `label` is the node's public name (emitted only). `governor` defaults to
    anvil's first dev account, the local deployer and governor."""
    Governor.at(url, deployment, governor).admit_node(node, beneficiary, class_id, region, label)


def set_epoch_length(deployment: Deployment, url: str, seconds: int, governor: NodeKey | None = None) -> None:
    """Sets GreenProof's epoch length on the chain at `url` (the oracles must use the same value)."""
    Governor.at(url, deployment, governor).set_epoch_length(seconds)


def override_admin(params: DeployParams, admin: str | None) -> DeployParams:
    """`params` with the governance address `admin` (a command-line --admin) instead of the file's, when given."""
    if admin in (None, ""):
        return params
    return dataclasses.replace(params, admin=_address(admin, "--admin"))
