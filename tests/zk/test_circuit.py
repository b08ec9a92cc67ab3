"""The committed keys belong to the committed circuit, and the ceremony transcript matches the files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from oracle.paths import node_tool
from oracle.zk.artifacts import EFFICIENCY, KEYS_DIR, compile_circuit, constraint_system_record, sha256_file


def test_recompiled_circuit_matches_the_keys(tmp_path: Path) -> None:
    r1cs, wasm = compile_circuit(tmp_path)
    committed = json.loads(EFFICIENCY.constraint_system.read_text())
    assert constraint_system_record(r1cs) == committed, (
        "circuits/efficiency.circom no longer compiles to the constraint system the keys were made for: "
        "rerun scripts/ceremony.py (and regenerate the Solidity verifier)")
    assert committed["public_inputs"] == 6 and committed["private_inputs"] == 129
    assert sha256_file(wasm) == sha256_file(EFFICIENCY.wasm), "circuits/compiled/efficiency.wasm is stale"


def test_verification_key_is_the_proving_keys(tmp_path: Path) -> None:
    exported = tmp_path / "vk.json"
    subprocess.run([node_tool("snarkjs"), "zkey", "export", "verificationkey", str(EFFICIENCY.zkey), str(exported)],
                   check=True, capture_output=True, timeout=120)
    assert json.loads(exported.read_text()) == json.loads(EFFICIENCY.verification_key.read_text())


def test_transcript_hashes_match_published_files() -> None:
    transcript = json.loads(EFFICIENCY.transcript.read_text())
    assert transcript["circuit"] == "circuits/efficiency.circom"
    assert "power 13" in transcript["phase1"]
    for name, digest in transcript["published"].items():
        path = EFFICIENCY.wasm if name == EFFICIENCY.wasm.name else KEYS_DIR / name
        assert sha256_file(path) == digest, f"{path} differs from the ceremony transcript"
    steps = [s["step"] for s in transcript["steps"]]
    assert sum(s.startswith("phase2 contribution") for s in steps) >= 2
    assert "phase2 beacon" in steps and "phase2 verify" in steps
    # The final zkey published is the one the beacon step produced.
    beacon = next(s for s in transcript["steps"] if s["step"] == "phase2 beacon")
    assert list(beacon["outputs"].values()) == [sha256_file(EFFICIENCY.zkey)]
