"""Where the circuit (circuits/efficiency.circom), its compiled witness generator and its keys live, and how the
circuit is compiled. `EFFICIENCY` describes its files; scripts/ceremony.py writes them, scripts/gen_verifier.py
turns its verification key into contracts/Groth16Verifier.sol.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from oracle.paths import CIRCUITS_DIR, KEYS_DIR, REPO_ROOT, node_tool

COMPILED_DIR = CIRCUITS_DIR / "compiled"
CIRCOM_FLAGS = ("--O2", "--r1cs", "--wasm")


@dataclass(frozen=True)
class Circuit:
    """A circuit's files: circuits/<name>.circom, compiled/<name>.wasm, keys/<name>.zkey and keys/<name>_*.json."""

    name: str
    n_public: int  # public signals (snarkjs nPublic)
    phase1_power: int  # 2^power ≥ constraints + public inputs + 1
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
        return KEYS_DIR / f"{self.name}_verification_key.json"

    @property
    def constraint_system(self) -> Path:
        return KEYS_DIR / f"{self.name}_constraint_system.json"

    @property
    def transcript(self) -> Path:
        return KEYS_DIR / f"{self.name}_transcript.json"


# 2^13 = 8192 >= 5649 constraints + 6 public inputs + 1. The title is in the committed Groth16Verifier.sol's doc
# comment: changing it changes the generated verifier.
EFFICIENCY = Circuit(name="efficiency", n_public=6, phase1_power=13, title="efficiency circuit (v2)")

__all__ = ["Circuit", "EFFICIENCY", "COMPILED_DIR", "KEYS_DIR", "compile_circuit", "constraint_system_record",
           "sha256_file"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compile_circuit(out_dir: Path, circuit: Circuit = EFFICIENCY) -> tuple[Path, Path]:
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


def constraint_system_record(r1cs: Path, circuit: Circuit = EFFICIENCY) -> dict:
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
