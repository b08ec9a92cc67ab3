"""The deployment file (docs/INTERFACES.md): chain id, block, addresses and ABIs of the EcoAI contracts.

It is the only thing the oracle and the web read about the chain; at run time they talk to the contracts with
web3.py through the ABIs stored in it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from oracle.errors import UsageError
from oracle.paths import state_dir

CONTRACT_NAMES = ("GreenProof", "EcoCredit", "Groth16Verifier")


def network_file_name(network: str) -> str:
    """`ethereum:local` → `local.json`, `ethereum:sepolia` → `sepolia.json` (the network part of the choice)."""
    parts = network.split(":")
    name = parts[1] if len(parts) > 1 else parts[0]
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a network name: {network!r}")
    return f"{name}.json"


def default_path(network: str = "ethereum:local") -> Path:
    """`<state>/deployments/<network>.json`, the file `ecoai up` and the deploy script write."""
    return state_dir() / "deployments" / network_file_name(network)


@dataclass(frozen=True)
class ContractRef:
    address: str
    abi: list[dict[str, Any]]


@dataclass(frozen=True)
class Deployment:
    network: str
    chain_id: int
    block: int
    deployed_at: str
    contracts: dict[str, ContractRef]
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        contracts = {name: ContractRef(Web3.to_checksum_address(ref["address"]), list(ref["abi"]))
                     for name, ref in data["contracts"].items()}
        missing = [name for name in CONTRACT_NAMES if name not in contracts]
        if missing:
            raise ValueError(f"deployment lacks {', '.join(missing)}")
        return cls(str(data["network"]), int(data["chain_id"]), int(data["block"]), str(data["deployed_at"]),
                   contracts, dict(data.get("params", {})))

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Reads a deployment file; raises FileNotFoundError, or ValueError for a malformed one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a deployment file: {exc!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "chain_id": self.chain_id, "block": self.block,
                "deployed_at": self.deployed_at,
                "contracts": {name: {"address": ref.address, "abi": ref.abi} for name, ref in self.contracts.items()},
                "params": self.params}

    def save(self, path: Path) -> Path:
        """Writes the file atomically (readers never see half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(self.to_dict(), out, indent=1)
            out.write("\n")
        os.replace(tmp, path)
        return path

    def address(self, name: str) -> str:
        return self.contracts[name].address

    def contract(self, w3: Web3, name: str) -> Contract:
        """A web3.py contract for `name` (GreenProof, EcoCredit, Groth16Verifier) from the stored ABI."""
        ref = self.contracts[name]
        return w3.eth.contract(address=ref.address, abi=ref.abi)

    def green_proof(self, w3: Web3) -> Contract:
        return self.contract(w3, "GreenProof")

    def eco_credit(self, w3: Web3) -> Contract:
        return self.contract(w3, "EcoCredit")

    def verifier(self, w3: Web3) -> Contract:
        return self.contract(w3, "Groth16Verifier")


def load_deployment(path: Path, what: str = "deployment file") -> Deployment:
    """The deployment file for a command (the node, the web app), or one clear UsageError that names `what` the
    user set (a config field or a flag)."""
    try:
        return Deployment.load(path)
    except FileNotFoundError:
        raise UsageError(f"{what}: {path} does not exist (deploy first, or run `ecoai up`)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what}: {exc}") from None
