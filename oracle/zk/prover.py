"""Prove that an epoch's energy per unit of work stayed at or below an efficiency tier (Groth16 over
circuits/efficiency.circom; the statement, its checks and its bundle are oracle.zk.efficiency's).

`Prover` owns one long-lived Node worker (oracle/zk/prover_worker.mjs: snarkjs with the witness generator,
proving key and curve kept in memory), so a proof pays no Node start-up. The inputs are checked first, so bad
input is refused with a clear error and nothing is proved; the worker verifies each proof before it is returned.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from oracle.childenv import child_env
from oracle.conventions import PUBLIC_SIGNALS
from oracle.paths import state_dir
from oracle.zk.artifacts import EFFICIENCY, Circuit
from oracle.zk.efficiency import EfficiencyProofBundle, check_efficiency_inputs, efficiency_circuit_input
from oracle.zk.errors import ProverFailed

WORKER_SCRIPT = Path(__file__).with_name("prover_worker.mjs")


class Prover:
    """Makes proofs through one persistent Node worker; use as a context manager (or call close())."""

    def __init__(self, zkey: Path | None = None, wasm: Path | None = None,
                 verification_key: Path | None = None, node_bin: str = "node", *,
                 circuit: Circuit = EFFICIENCY) -> None:
        """Files default to the circuit's (oracle.zk.artifacts.EFFICIENCY); zkey, wasm and verification_key
        override them one by one. `circuit` names the one circuit there is: `Prover()` is the way to make one
        (callers written during the v1 → v2 switch still pass circuit=EFFICIENCY)."""
        self.circuit = circuit
        zkey = zkey or circuit.zkey
        wasm = wasm or circuit.wasm
        verification_key = verification_key or circuit.verification_key
        for path in (zkey, wasm, verification_key):
            if not Path(path).exists():
                raise FileNotFoundError(f"{path} is missing: run scripts/ceremony.py")
        self._args = [node_bin, str(WORKER_SCRIPT), str(wasm), str(zkey), str(verification_key)]
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._next_id = 0

    def __enter__(self) -> Prover:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker now (otherwise the first proof starts it); returns once it is ready."""
        with self._lock:
            self._ensure_worker()

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # the worker finishes the queue, stops the curve's threads and exits
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def prove_efficiency(self, energy_mj: Sequence[int], work_units: Sequence[int], salt: int,
                         efficiency_uj_per_unit: int, epoch: int, node: int | str,
                         methods: int = 0) -> EfficiencyProofBundle:
        """Prove 1000 · Σ energy_mj ≤ efficiency_uj_per_unit · Σ work_units for the commitment to
        (energy, work, salt, node, epoch), with `methods` (oracle.zk.efficiency.methods_code) bound as a
        public signal. Raises an oracle.zk error (a UsageError) and proves
        nothing when an input is out of range, the total work is 0 (ZeroWork) or the epoch is over the tier
        (OverEfficiencyTier)."""
        checked = check_efficiency_inputs(energy_mj, work_units, efficiency_uj_per_unit, epoch, node, methods)
        circuit_input = efficiency_circuit_input(checked, salt)
        reply = self._request(circuit_input)
        bundle = EfficiencyProofBundle(proof=reply["proof"],
                                       public_signals=[str(s) for s in reply["publicSignals"]])
        expected = [circuit_input[name] for name in PUBLIC_SIGNALS]
        if not reply.get("verified") or bundle.public_signals != expected:
            raise ProverFailed(f"the worker's proof did not verify for public signals {expected}")
        return bundle

    def prove_circuit_input(self, circuit_input: dict) -> dict:
        """The worker's raw answer ({"proof", "publicSignals", "verified"}) for a circuit input JSON, with NO
        input checks: for tests that show the circuit itself refuses what the checks refuse. Raises
        ProverFailed when the witness cannot be computed (a failed constraint)."""
        return self._request(circuit_input)

    def _ensure_worker(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        log_file = state_dir() / "logs" / "prover-worker.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:  # the worker keeps its own copy of the descriptor
            proc = subprocess.Popen(self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    text=True, bufsize=1, env=child_env())
        line = proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            proc.kill()
            proc.wait()
            raise ProverFailed(f"the prover worker did not start (is node >= 20 and node_modules installed?); "
                               f"see {log_file}")
        self._proc = proc
        return proc

    def _request(self, circuit_input: dict) -> dict:
        with self._lock:
            for attempt in (1, 2):  # a dead worker (crash, OOM kill) is restarted once
                proc = self._ensure_worker()
                self._next_id += 1
                request_id = self._next_id
                try:
                    proc.stdin.write(json.dumps({"id": request_id, "input": circuit_input}) + "\n")
                    proc.stdin.flush()
                    line = proc.stdout.readline()
                except (BrokenPipeError, OSError):
                    line = ""
                if line:
                    break
                proc.kill()
                proc.wait()
                self._proc = None
                if attempt == 2:
                    raise ProverFailed("the prover worker died twice in a row")
            reply = json.loads(line)
        if reply.get("id") != request_id:
            raise ProverFailed(f"the prover worker answered out of order: {reply!r:.200}")
        if "error" in reply:
            raise ProverFailed(f"the prover worker failed: {reply['error']}")
        return reply
