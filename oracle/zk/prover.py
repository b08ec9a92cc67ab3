"""Prove that an epoch's committed energy readings stayed under a threshold (Groth16 over circuits/energy_budget),
or (v2, `Prover(circuit=EFFICIENCY).prove_efficiency`, oracle/zk/efficiency.py) that energy per unit of work
stayed at or below an efficiency tier.

`Prover` owns one long-lived Node worker (oracle/zk/prover_worker.mjs: snarkjs with the witness generator,
proving key and curve kept in memory), so a proof pays no Node start-up. The inputs are checked here first,
so bad input is refused with a clear error and nothing is proved; the worker verifies each proof before
it is returned.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from oracle.childenv import child_env
from oracle.conventions import N_INTERVALS
from oracle.paths import state_dir
from oracle.zk.artifacts import DEFAULT_CIRCUIT, EFFICIENCY, Circuit
from oracle.zk.errors import (
    FieldOutOfRange,
    OverThreshold,
    ProverFailed,
    ReadingOutOfRange,
    ThresholdOutOfRange,
    WrongReadingCount,
)
from oracle.zk.poseidon import FIELD_MODULUS, poseidon
# The encodings both circuits share (oracle.zk.encoding), re-exported: oracle.zk.prover.node_to_int etc. still work.
from oracle.zk.encoding import (  # noqa: F401
    EPOCH_BITS,
    NODE_BITS,
    PACK,
    READING_BITS,
    _checked_int,
    groth16_calldata,
    node_to_int,
    pack_readings,
)

if TYPE_CHECKING:
    from oracle.zk.efficiency import EfficiencyProofBundle

N_READINGS = N_INTERVALS
THRESHOLD_BITS = 64
WORKER_SCRIPT = Path(__file__).with_name("prover_worker.mjs")


def random_salt() -> int:
    """A uniformly random field element: it hides the readings inside the commitment."""
    return secrets.randbelow(FIELD_MODULUS)


def _checked_readings(readings_mj: Sequence[int]) -> list[int]:
    readings = list(readings_mj)
    if len(readings) != N_READINGS:
        raise WrongReadingCount(
            f"an epoch has exactly {N_READINGS} interval readings, got {len(readings)} "
            "(a missing interval is not zero energy)")
    return [_checked_int(r, READING_BITS, f"reading {i} (mJ)", ReadingOutOfRange) for i, r in enumerate(readings)]


def commitment(readings: Sequence[int], salt: int, node: int | str, epoch: int) -> int:
    """The public commitment to an epoch's readings (circuits/README.md, "Commitment"):
    c0 = Poseidon(salt, node, epoch); word_j = sum_i readings[7j + i] * 2^(32 i) for j = 0..9;
    commitment = Poseidon(c0, word_0, ..., word_9)."""
    values = _checked_readings(readings)
    node_int = node_to_int(node)
    epoch_int = _checked_int(epoch, EPOCH_BITS, "epoch", FieldOutOfRange)
    salt_int = _checked_int(salt, 254, "salt", FieldOutOfRange)
    if salt_int >= FIELD_MODULUS:
        raise FieldOutOfRange("salt must be a field element (< the BN254 scalar field order)")
    return poseidon([poseidon([salt_int, node_int, epoch_int]), *pack_readings(values)])


def check_inputs(readings_mj: Sequence[int], threshold_mj: int, epoch: int,
                 node: int | str) -> tuple[list[int], int, int, int]:
    """Refuse what the circuit cannot prove, with one clear error; returns (readings, threshold, epoch, node)
    as plain ints."""
    readings = _checked_readings(readings_mj)
    threshold = _checked_int(threshold_mj, THRESHOLD_BITS, "threshold (mJ)", ThresholdOutOfRange)
    epoch = _checked_int(epoch, EPOCH_BITS, "epoch", FieldOutOfRange)
    node_int = node_to_int(node)
    total = sum(readings)
    if total > threshold:
        raise OverThreshold(f"the readings sum to {total} mJ, over the threshold of {threshold} mJ: "
                            "nothing to prove")
    return readings, threshold, epoch, node_int


@dataclass(frozen=True)
class ProofBundle:
    """A Groth16 proof as snarkjs writes it (proof.json, public.json), public signals
    [threshold_mj, epoch, node, commitment] as decimal strings."""

    proof: dict = field(hash=False)
    public_signals: list[str] = field(hash=False)

    def calldata(self) -> dict:
        """EVM calldata: `proof` is the uint256[8] of GreenProof.submit ([a.x, a.y, b.x.c1, b.x.c0, b.y.c1,
        b.y.c0, c.x, c.y]: G2 coordinates as [c1, c0], the precompile's order), `inputs` the uint256[4]
        public inputs; `a`, `b`, `c` are the same points split for Groth16Verifier.verifyProof."""
        return groth16_calldata(self.proof, self.public_signals)

    @property
    def threshold_mj(self) -> int:
        return int(self.public_signals[0])

    @property
    def epoch(self) -> int:
        return int(self.public_signals[1])

    @property
    def node(self) -> int:
        return int(self.public_signals[2])

    @property
    def commitment(self) -> int:
        return int(self.public_signals[3])


class Prover:
    """Makes proofs through one persistent Node worker; use as a context manager (or call close())."""

    def __init__(self, zkey: Path | None = None, wasm: Path | None = None,
                 verification_key: Path | None = None, node_bin: str = "node", *,
                 circuit: Circuit = DEFAULT_CIRCUIT) -> None:
        """Files default to `circuit`'s (oracle.zk.artifacts): v1 energy_budget unless circuit=EFFICIENCY."""
        self.circuit = circuit
        zkey = zkey or circuit.zkey
        wasm = wasm or circuit.wasm
        verification_key = verification_key or circuit.verification_key
        for path in (zkey, wasm, verification_key):
            if not Path(path).exists():
                raise FileNotFoundError(f"{path} is missing: run scripts/ceremony.py --circuit {circuit.name}")
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

    def prove(self, readings_mj: Sequence[int], salt: int, threshold_mj: int, epoch: int,
              node: int | str) -> ProofBundle:
        """Prove sum(readings_mj) ≤ threshold_mj for the commitment to (readings, salt, node, epoch).
        Raises an oracle.zk error (a UsageError) and proves nothing when the inputs are out of range or
        over the threshold."""
        self._require(DEFAULT_CIRCUIT, "prove")
        readings, threshold, epoch, node_int = check_inputs(readings_mj, threshold_mj, epoch, node)
        commit = commitment(readings, salt, node_int, epoch)
        circuit_input = {
            "threshold_mj": str(threshold), "epoch": str(epoch), "node": str(node_int),
            "commitment": str(commit), "readings_mj": [str(r) for r in readings], "salt": str(salt),
        }
        reply = self._request(circuit_input)
        bundle = ProofBundle(proof=reply["proof"], public_signals=[str(s) for s in reply["publicSignals"]])
        expected = [str(threshold), str(epoch), str(node_int), str(commit)]
        if not reply.get("verified") or bundle.public_signals != expected:
            raise ProverFailed(f"the worker's proof did not verify for public signals {expected}")
        return bundle

    def prove_efficiency(self, energy_mj: Sequence[int], work_units: Sequence[int], salt: int,
                         efficiency_uj_per_unit: int, epoch: int, node: int | str,
                         methods: int = 0) -> EfficiencyProofBundle:
        """v2: prove 1000 · Σ energy_mj ≤ efficiency_uj_per_unit · Σ work_units for the commitment to
        (energy, work, salt, node, epoch), with `methods` (oracle.zk.efficiency.methods_code) bound as a
        public signal. Needs Prover(circuit=EFFICIENCY). Raises an oracle.zk error (a UsageError) and proves
        nothing when an input is out of range, the total work is 0 (ZeroWork) or the epoch is over the tier
        (OverEfficiencyTier)."""
        from oracle.zk.efficiency import EfficiencyProofBundle, check_efficiency_inputs, efficiency_circuit_input

        self._require(EFFICIENCY, "prove_efficiency")
        checked = check_efficiency_inputs(energy_mj, work_units, efficiency_uj_per_unit, epoch, node, methods)
        circuit_input = efficiency_circuit_input(checked, salt)
        reply = self._request(circuit_input)
        bundle = EfficiencyProofBundle(proof=reply["proof"],
                                       public_signals=[str(s) for s in reply["publicSignals"]])
        expected = [circuit_input[name] for name in ("efficiency_uj_per_unit", "work_units_total", "epoch",
                                                       "node", "methods", "commitment")]
        if not reply.get("verified") or bundle.public_signals != expected:
            raise ProverFailed(f"the worker's proof did not verify for public signals {expected}")
        return bundle

    def prove_circuit_input(self, circuit_input: dict) -> dict:
        """The worker's raw answer ({"proof", "publicSignals", "verified"}) for a circuit input JSON, with NO
        input checks: for tests that show the circuit itself refuses what the checks refuse. Raises
        ProverFailed when the witness cannot be computed (a failed constraint)."""
        return self._request(circuit_input)

    def _require(self, circuit: Circuit, method: str) -> None:
        if self.circuit != circuit:
            raise TypeError(f"Prover.{method} needs Prover(circuit={circuit.name!r}); this one proves "
                            f"{self.circuit.name!r}")

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
