#!/usr/bin/env python3
"""Compile the efficiency circuit and run its Groth16 trusted-setup ceremony with snarkjs, from scratch.

    .venv/bin/python scripts/ceremony.py                        # local phase 1 (power 13) + phase 2
    .venv/bin/python scripts/ceremony.py --ptau FILE            # production: a public multi-party phase-1 file

Writes (oracle.zk.artifacts.EFFICIENCY describes the files): circuits/compiled/efficiency.wasm (witness
generator), circuits/keys/efficiency.zkey (proving key), keys/efficiency_verification_key.json, the
constraint-system record keys/efficiency_constraint_system.json (hash of the compiled r1cs) and the transcript
keys/efficiency_transcript.json (every step, its command and the SHA-256 of what it produced). Intermediate files
(ptau, zkeys before the beacon, r1cs) stay in the work folder (default .build/ceremony/efficiency, ignored by git).
Contribution entropy comes from os.urandom and is never written anywhere: it is the toxic waste.
Re-running it makes new keys: the Solidity verifier must then be regenerated from the new verification key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from oracle.zk.artifacts import (
    COMPILED_DIR,
    EFFICIENCY,
    KEYS_DIR,
    compile_circuit,
    constraint_system_record,
    sha256_file,
)
from oracle.paths import REPO_ROOT, node_tool
from oracle.progress import Steps

# Phase-1 power (Circuit.phase1_power): 2^power >= constraints + public inputs + 1, 2^13 = 8192 >= 5649 + 6 + 1.
BEACON_ITERATIONS_EXP = 10


class Transcript:
    def __init__(self, progress: Steps) -> None:
        self.steps: list[dict] = []
        self.progress = progress  # one line per step on stderr (the entropy never appears in it)

    def run(self, name: str, args: list[str], outputs: list[Path], cwd: Path, redact: str | None = None) -> str:
        started = time.monotonic()
        with self.progress.step(name):
            proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if redact:
            log = log.replace(redact, "<entropy>")
        if proc.returncode != 0 or "[ERROR]" in log:
            sys.exit(f"ceremony step {name!r} failed:\n{log}")
        shown = [a if not redact or redact not in a else a.replace(redact, "<entropy>") for a in args]
        self.steps.append({
            "step": name,
            "command": " ".join(Path(shown[0]).name if i == 0 else _rel(a, cwd) for i, a in enumerate(shown)),
            "seconds": round(time.monotonic() - started, 2),
            "outputs": {p.name: sha256_file(p) for p in outputs},
            # snarkjs prints the contribution hashes (blake2b) a verifier compares with `zkey verify`.
            "log": [_strip_ansi(line) for line in log.splitlines() if line.strip()],
        })
        return log


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _rel(arg: str, cwd: Path) -> str:
    try:
        return str(Path(arg).relative_to(cwd))
    except ValueError:
        return arg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptau", type=Path, help="a prepared phase-1 file (powersoftau ... prepare phase2 output, "
                        "power >= the circuit's phase-1 power); default: run a local phase 1")
    parser.add_argument("--workdir", type=Path, default=None, help="default .build/ceremony/efficiency")
    parser.add_argument("--beacon", help="phase-2 beacon as hex (a public random value fixed after the "
                        "contributions, e.g. a future block hash); default: SHA-256 of the transcript so far")
    args = parser.parse_args()
    circuit = EFFICIENCY
    power = circuit.phase1_power  # 2^power >= constraints + public inputs + 1
    name = circuit.name

    snarkjs = node_tool("snarkjs")
    work: Path = (args.workdir or REPO_ROOT / ".build" / "ceremony" / circuit.name).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    # compile, phase 1 (5 local steps or 1 check of the given file), phase 2 (6 steps)
    t = Transcript(Steps("ceremony", total=1 + (1 if args.ptau else 5) + 6))
    print(f"ceremony in {work}", flush=True)

    # Compile.
    started = time.monotonic()
    with t.progress.step(f"compiling {circuit.source.name}"):
        r1cs, wasm = compile_circuit(work, circuit)
    cs = constraint_system_record(r1cs, circuit)
    t.steps.append({"step": "compile", "command": f"circom2 {circuit.source.relative_to(REPO_ROOT)} --O2 --r1cs --wasm",
                    "seconds": round(time.monotonic() - started, 2),
                    "outputs": {r1cs.name: sha256_file(r1cs), wasm.name: sha256_file(wasm)},
                    "source_sha256": sha256_file(circuit.source)})
    print(f"  compiled: {cs['constraints']} constraints", flush=True)

    # Phase 1 (universal): local unless a public prepared ptau is given.
    if args.ptau:
        final_ptau = args.ptau.resolve()
        t.steps.append({"step": "phase1 (external)", "command": f"--ptau {final_ptau}", "seconds": 0,
                        "outputs": {final_ptau.name: sha256_file(final_ptau)}})
        t.run("phase1 verify", [snarkjs, "powersoftau", "verify", str(final_ptau)], [], work)
    else:
        p0, p1, p2, pb = (work / f"pot{power}_{s}.ptau" for s in ("0000", "0001", "0002", "beacon"))
        final_ptau = work / f"pot{power}_final.ptau"
        t.run("phase1 new", [snarkjs, "powersoftau", "new", "bn128", str(power), str(p0)], [p0], work)
        for i, (src, dst) in enumerate(((p0, p1), (p1, p2)), start=1):
            entropy = os.urandom(32).hex()
            t.run(f"phase1 contribution {i}", [snarkjs, "powersoftau", "contribute", str(src), str(dst),
                                               f"--name=EcoAI phase1 #{i}", f"-e={entropy}"], [dst], work, entropy)
        beacon1 = hashlib.sha256(json.dumps(t.steps, sort_keys=True).encode()).hexdigest()
        t.run("phase1 beacon", [snarkjs, "powersoftau", "beacon", str(p2), str(pb), beacon1,
                                str(BEACON_ITERATIONS_EXP), "--name=EcoAI phase1 beacon"], [pb], work)
        t.run("phase1 prepare phase2", [snarkjs, "powersoftau", "prepare", "phase2", str(pb), str(final_ptau)],
              [final_ptau], work)

    # Phase 2 (circuit-specific): two contributions, then a beacon.
    z0, z1, z2 = (work / f"{name}_{i:04d}.zkey" for i in range(3))
    zfinal = work / f"{name}.zkey"
    t.run("phase2 setup", [snarkjs, "groth16", "setup", str(r1cs), str(final_ptau), str(z0)], [z0], work)
    for i, (src, dst) in enumerate(((z0, z1), (z1, z2)), start=1):
        entropy = os.urandom(32).hex()
        t.run(f"phase2 contribution {i}", [snarkjs, "zkey", "contribute", str(src), str(dst),
                                           f"--name=EcoAI phase2 #{i}", f"-e={entropy}"], [dst], work, entropy)
    beacon2 = args.beacon or hashlib.sha256(json.dumps(t.steps, sort_keys=True).encode()).hexdigest()
    t.run("phase2 beacon", [snarkjs, "zkey", "beacon", str(z2), str(zfinal), beacon2,
                            str(BEACON_ITERATIONS_EXP), "--name=EcoAI phase2 beacon"], [zfinal], work)
    t.run("phase2 verify", [snarkjs, "zkey", "verify", str(r1cs), str(final_ptau), str(zfinal)], [], work)
    vk = work / "verification_key.json"
    t.run("export verification key", [snarkjs, "zkey", "export", "verificationkey", str(zfinal), str(vk)], [vk], work)

    # Publish.
    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    COMPILED_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(zfinal, circuit.zkey)
    shutil.copyfile(vk, circuit.verification_key)
    shutil.copyfile(wasm, circuit.wasm)
    circuit.constraint_system.write_text(json.dumps(cs, indent=2) + "\n")
    transcript = {
        "circuit": str(circuit.source.relative_to(REPO_ROOT)),
        "finished_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "phase1": "external" if args.ptau else f"local, power {power}, 2 contributions + beacon",
        "phase2": "2 contributions + beacon",
        "published": {p.name: sha256_file(p) for p in (circuit.zkey, circuit.verification_key, circuit.wasm,
                                                        circuit.constraint_system)},
        "steps": t.steps,
    }
    circuit.transcript.write_text(json.dumps(transcript, indent=2) + "\n")
    t.progress.done(f"keys written to {KEYS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
