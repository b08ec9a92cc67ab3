"""Where each circuit, its compiled witness generator and its keys live, and how a circuit is compiled.

One `Circuit` describes one circuit's files; `CIRCUITS` lists them by name. v1 `energy_budget` (sum of 64
readings ≤ threshold) is what the system uses today; v2 `efficiency` (energy per unit of work ≤ a tier) is
built alongside it until the integration step switches over. The module-level names (WASM_FILE, ZKEY_FILE, …)
are v1's, kept for the code that imports them.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from oracle.paths import CIRCUITS_DIR, KEYS_DIR, REPO_ROOT, node_tool

COMPILED_DIR = CIRCUITS_DIR / "compiled"
CONTRACTS_DIR = REPO_ROOT / "contracts"
CIRCOM_FLAGS = ("--O2", "--r1cs", "--wasm")


@dataclass(frozen=True)
class Circuit:
    """One circuit's files. `file_prefix` is prepended to the key files' generic names (v1 has none: its
    files predate v2 and keep their names)."""

    name: str  # circuits/<name>.circom, compiled/<name>.wasm, keys/<name>.zkey
    n_public: int  # public signals (snarkjs nPublic)
    phase1_power: int  # 2^power ≥ constraints + public inputs + 1
    file_prefix: str
    verifier_contract: str  # Solidity contract name gen_verifier.py writes
    title: str  # one line for the generated verifier's doc comment

    @property
    def source(self) -> Path:
        return CIRCUITS_DIR / f"{self.name}.circom"

    @property
    def wasm(self) -> Path:
        return COMPILED_DIR / f"{self.name}.wasm"

    @property
    def zkey(self) -> Path:
        return KEYS_DIR / f"{self.name}.zkey"

    @property
    def verification_key(self) -> Path:
        return KEYS_DIR / f"{self.file_prefix}verification_key.json"

    @property
    def constraint_system(self) -> Path:
        return KEYS_DIR / f"{self.file_prefix}constraint_system.json"

    @property
    def transcript(self) -> Path:
        return KEYS_DIR / f"{self.file_prefix}transcript.json"

    @property
    def verifier_sol(self) -> Path:
        return CONTRACTS_DIR / f"{self.verifier_contract}.sol"


ENERGY_BUDGET = Circuit(name="energy_budget", n_public=4, phase1_power=12, file_prefix="",
                        verifier_contract="Groth16Verifier", title="energy-budget circuit")
EFFICIENCY = Circuit(name="efficiency", n_public=6, phase1_power=13, file_prefix="efficiency_",
                     verifier_contract="EfficiencyVerifier", title="efficiency circuit (v2)")
CIRCUITS: dict[str, Circuit] = {c.name: c for c in (ENERGY_BUDGET, EFFICIENCY)}
DEFAULT_CIRCUIT = ENERGY_BUDGET


def circuit_named(name: str) -> Circuit:
    try:
        return CIRCUITS[name]
    except KeyError:
        raise ValueError(f"unknown circuit {name!r}; known: {', '.join(CIRCUITS)}") from None


def circuit_for_public_count(n_public: int) -> Circuit | None:
    """The circuit whose proofs have `n_public` public signals (v1: 4, v2: 6), or None."""
    return next((c for c in CIRCUITS.values() if c.n_public == n_public), None)


# v1's paths under their historical names.
CIRCUIT_NAME = ENERGY_BUDGET.name
CIRCUIT_SOURCE = ENERGY_BUDGET.source
WASM_FILE = ENERGY_BUDGET.wasm
ZKEY_FILE = ENERGY_BUDGET.zkey
VERIFICATION_KEY_FILE = ENERGY_BUDGET.verification_key
CONSTRAINT_SYSTEM_FILE = ENERGY_BUDGET.constraint_system
TRANSCRIPT_FILE = ENERGY_BUDGET.transcript

__all__ = [
    "Circuit", "CIRCUITS", "ENERGY_BUDGET", "EFFICIENCY", "DEFAULT_CIRCUIT", "circuit_named",
    "circuit_for_public_count",
    "CIRCUIT_NAME", "CIRCUIT_SOURCE", "COMPILED_DIR", "WASM_FILE", "ZKEY_FILE", "VERIFICATION_KEY_FILE",
    "CONSTRAINT_SYSTEM_FILE", "TRANSCRIPT_FILE", "KEYS_DIR", "compile_circuit", "constraint_system_record",
    "sha256_file",
]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compile_circuit(out_dir: Path, circuit: Circuit = DEFAULT_CIRCUIT) -> tuple[Path, Path]:
    """Compile circuits/<name>.circom with circom2 --O2; returns (r1cs, wasm) paths under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [node_tool("circom2"), str(circuit.source.relative_to(REPO_ROOT)), *CIRCOM_FLAGS,
         "-l", "node_modules", "-o", str(out_dir)],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"circom2 failed:\n{proc.stdout}{proc.stderr}")
    return out_dir / f"{circuit.name}.r1cs", out_dir / f"{circuit.name}_js" / f"{circuit.name}.wasm"


def _r1cs_header(path: Path) -> dict[str, int]:
    """The header section of a circom r1cs file (iden3 binary format, section type 1)."""
    data = path.read_bytes()
    if data[:4] != b"r1cs":
        raise ValueError(f"{path} is not an r1cs file")
    n_sections = struct.unpack_from("<I", data, 8)[0]
    pos = 12
    for _ in range(n_sections):
        kind, size = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if kind == 1:
            field_size = struct.unpack_from("<I", data, pos)[0]
            prime = int.from_bytes(data[pos + 4: pos + 4 + field_size], "little")
            q = pos + 4 + field_size
            wires, outputs, public_inputs, private_inputs = struct.unpack_from("<IIII", data, q)
            labels, constraints = struct.unpack_from("<QI", data, q + 16)
            return {"prime": prime, "wires": wires, "public_outputs": outputs, "public_inputs": public_inputs,
                    "private_inputs": private_inputs, "labels": labels, "constraints": constraints}
        pos += size
    raise ValueError(f"{path} has no header section")


def constraint_system_record(r1cs: Path, circuit: Circuit = DEFAULT_CIRCUIT) -> dict:
    """What circuits/keys/<prefix>constraint_system.json records: the r1cs hash and its shape."""
    header = _r1cs_header(r1cs)
    return {
        "circuit": str(circuit.source.relative_to(REPO_ROOT)),
        "compiler": "circom2 (npm) " + " ".join(CIRCOM_FLAGS),
        "r1cs_sha256": sha256_file(r1cs),
        "constraints": header["constraints"],
        "wires": header["wires"],
        "public_inputs": header["public_inputs"],
        "private_inputs": header["private_inputs"],
        "prime": str(header["prime"]),
    }
