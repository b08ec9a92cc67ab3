#!/usr/bin/env python3
"""Proving time and peak memory: oracle.zk.Prover (persistent Node worker) against `snarkjs groth16 fullprove`
(CLI, one Node process per proof), on the same inputs, in the same run.

    .venv/bin/python bench/prove.py [--runs 5]

The circuit is circuits/efficiency.circom. The inputs are synthetic (a fixed pseudo-random epoch of 64 (energy,
work) intervals, proved at a tier it meets), not measurements: this measures proving. Our time includes everything
`Prover.prove_efficiency` does per proof (input checks, the Poseidon commitment in Python, witness, proof, the
worker's own snarkjs verification); the CLI time is one `fullprove` process (no verify) on the same input JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.paths import node_tool  # noqa: E402
from oracle.zk import EFFICIENCY, Prover, check_efficiency_inputs, methods_code, random_salt  # noqa: E402
from oracle.zk.efficiency import efficiency_circuit_input  # noqa: E402

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_cli(input_file: Path, workdir: Path) -> tuple[float, int]:
    """One `snarkjs groth16 fullprove` process: (seconds, its peak RSS in KiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([node_tool("snarkjs"), "groth16", "fullprove", str(input_file), str(EFFICIENCY.wasm),
                             str(EFFICIENCY.zkey), str(workdir / "proof.json"), str(workdir / "public.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        sys.exit("snarkjs groth16 fullprove failed")
    return elapsed, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(2026)
    energy = [rng.randrange(1_000_000, 40_000_000) for _ in range(64)]
    work = [rng.randrange(1_000, 20_000) for _ in range(64)]
    tier = -(-1000 * sum(energy) // sum(work))  # the lowest tier (µJ per unit) the epoch meets
    epoch, salt, methods = 29_427_000, random_salt(), methods_code("measured", "measured")
    proof_args = (energy, work, salt, tier, epoch, NODE, methods)
    # The same input JSON the worker proves, for the CLI.
    circuit_input = efficiency_circuit_input(check_efficiency_inputs(energy, work, tier, epoch, NODE, methods), salt)
    cli_times: list[float] = []
    our_times: list[float] = []
    cli_peak = 0
    with tempfile.TemporaryDirectory() as tmp, contextlib.closing(Prover()) as prover:
        workdir = Path(tmp)
        input_file = workdir / "input.json"
        input_file.write_text(json.dumps(circuit_input))
        started = time.perf_counter()
        prover.start()
        startup = time.perf_counter() - started
        # One untimed warm-up each (file cache, JIT), then alternate so both see the same machine load.
        run_cli(input_file, workdir)
        assert prover.prove_efficiency(*proof_args).public_signals[-1] == circuit_input["commitment"]
        for _ in range(args.runs):
            elapsed, peak = run_cli(input_file, workdir)
            cli_times.append(elapsed)
            cli_peak = max(cli_peak, peak)
            started = time.perf_counter()
            prover.prove_efficiency(*proof_args)
            our_times.append(time.perf_counter() - started)
        worker_peak = _vm_hwm_kib(prover._proc.pid)  # the worker's own peak resident memory
    py_peak = _vm_hwm_kib(os.getpid())

    cli_med, our_med = statistics.median(cli_times), statistics.median(our_times)
    print(f"circuit: efficiency (64 energy + 64 work values), {args.runs} proofs each, alternating, after one warm-up each; "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"snarkjs groth16 fullprove (CLI): median {cli_med * 1000:.0f} ms  "
          f"(min {min(cli_times) * 1000:.0f}, max {max(cli_times) * 1000:.0f})  peak RSS {cli_peak / 1024:.0f} MiB")
    print(f"oracle.zk.Prover.prove_efficiency: median {our_med * 1000:.0f} ms  "
          f"(min {min(our_times) * 1000:.0f}, max {max(our_times) * 1000:.0f})  peak RSS worker "
          f"{worker_peak / 1024:.0f} MiB + python {py_peak / 1024:.0f} MiB; worker start-up {startup * 1000:.0f} ms once")
    print(f"ratio ours / snarkjs CLI: {our_med / cli_med:.2f} (goal <= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
