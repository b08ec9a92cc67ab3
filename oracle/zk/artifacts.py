"""Where the circuit, its compiled witness generator and its keys live, and how the circuit is compiled."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

from oracle.paths import CIRCUITS_DIR, KEYS_DIR, REPO_ROOT, node_tool

CIRCUIT_NAME = "energy_budget"
CIRCUIT_SOURCE = CIRCUITS_DIR / f"{CIRCUIT_NAME}.circom"
COMPILED_DIR = CIRCUITS_DIR / "compiled"
WASM_FILE = COMPILED_DIR / f"{CIRCUIT_NAME}.wasm"
ZKEY_FILE = KEYS_DIR / f"{CIRCUIT_NAME}.zkey"
VERIFICATION_KEY_FILE = KEYS_DIR / "verification_key.json"
CONSTRAINT_SYSTEM_FILE = KEYS_DIR / "constraint_system.json"
TRANSCRIPT_FILE = KEYS_DIR / "transcript.json"
CIRCOM_FLAGS = ("--O2", "--r1cs", "--wasm")

__all__ = [
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


def compile_circuit(out_dir: Path) -> tuple[Path, Path]:
    """Compile circuits/energy_budget.circom with circom2 --O2; returns (r1cs, wasm) paths under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [node_tool("circom2"), str(CIRCUIT_SOURCE.relative_to(REPO_ROOT)), *CIRCOM_FLAGS,
         "-l", "node_modules", "-o", str(out_dir)],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"circom2 failed:\n{proc.stdout}{proc.stderr}")
    return out_dir / f"{CIRCUIT_NAME}.r1cs", out_dir / f"{CIRCUIT_NAME}_js" / f"{CIRCUIT_NAME}.wasm"


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


def constraint_system_record(r1cs: Path) -> dict:
    """What circuits/keys/constraint_system.json records: the r1cs hash and its shape."""
    header = _r1cs_header(r1cs)
    return {
        "circuit": str(CIRCUIT_SOURCE.relative_to(REPO_ROOT)),
        "compiler": "circom2 (npm) " + " ".join(CIRCOM_FLAGS),
        "r1cs_sha256": sha256_file(r1cs),
        "constraints": header["constraints"],
        "wires": header["wires"],
        "public_inputs": header["public_inputs"],
        "private_inputs": header["private_inputs"],
        "prime": str(header["prime"]),
    }
