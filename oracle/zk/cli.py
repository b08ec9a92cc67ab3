"""`ecoai prove` and `ecoai verify`: Groth16 green proofs from a readings CSV, checked on py_ecc."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from oracle.errors import UsageError
from oracle.zk.prover import N_READINGS, Prover, check_inputs, random_salt
from oracle.zk.verifier import check, load_json_file, load_verification_key

CSV_HEADER = "energy_mj"
OUTPUT_FILES = ("proof.json", "public.json", "calldata.json", "opening.json")


def register(subparsers: argparse._SubParsersAction) -> None:
    prove = subparsers.add_parser(
        "prove", help="prove that an epoch's readings (CSV, mJ) sum to at most a threshold",
        description=f"Prove with Groth16 that the {N_READINGS} interval readings of an epoch sum to at most "
                    "THRESHOLD mJ. Writes DIR/proof.json, DIR/public.json (snarkjs format), DIR/calldata.json "
                    "(EVM) and DIR/opening.json (readings and salt that open the commitment; keep it private).")
    prove.add_argument("--readings", type=Path, required=True, metavar="FILE.csv",
                       help=f"one column with header {CSV_HEADER}, exactly {N_READINGS} rows of integer mJ")
    prove.add_argument("--threshold", type=_integer, required=True, metavar="MJ", help="threshold in mJ")
    prove.add_argument("--epoch", type=_integer, required=True, metavar="E", help="epoch number")
    prove.add_argument("--node", required=True, metavar="ADDR", help="the node's 0x address")
    prove.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    prove.set_defaults(handler=prove_command)

    verify = subparsers.add_parser(
        "verify", help="verify a Groth16 proof with py_ecc (exit 0 valid, 1 invalid, 2 malformed)",
        description="Verify a snarkjs proof.json + public.json against a verification key, independently of "
                    "snarkjs. Exit 0 valid, 1 invalid, 2 malformed input; prints one line.")
    verify.add_argument("proof", type=Path, metavar="PROOF", help="proof.json")
    verify.add_argument("public", type=Path, metavar="PUBLIC", help="public.json")
    verify.add_argument("--vk", type=Path, default=None, metavar="FILE",
                        help="verification_key.json (default: circuits/keys/verification_key.json)")
    verify.set_defaults(handler=verify_command)


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a decimal integer: {text!r}") from None


def read_readings_csv(path: Path) -> list[int]:
    """The readings of one epoch: header `energy_mj`, exactly N_READINGS rows of non-negative integer mJ."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read CSV: {exc}") from None
    if not rows or [cell.strip() for cell in rows[0]] != [CSV_HEADER]:
        raise UsageError(f"{path}: the first line must be the single header {CSV_HEADER!r}")
    readings = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or row == [""]:
            raise UsageError(f"{path}:{line_no}: empty line (a missing interval is not zero energy)")
        if len(row) != 1:
            raise UsageError(f"{path}:{line_no}: expected one column, got {len(row)}")
        cell = row[0].strip()
        if not cell.isascii() or not cell.isdigit():
            raise UsageError(f"{path}:{line_no}: {cell!r} is not a non-negative integer of mJ")
        readings.append(int(cell))
    if len(readings) != N_READINGS:
        raise UsageError(f"{path}: an epoch needs exactly {N_READINGS} interval readings, got {len(readings)} "
                         "(a missing interval is not zero energy, so nothing is padded)")
    return readings


def prove_command(args: argparse.Namespace) -> int:
    readings = read_readings_csv(args.readings)
    _, _, _, node = check_inputs(readings, args.threshold, args.epoch, args.node)  # before starting Node
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing:  # an earlier opening.json may be the only copy of a salt whose commitment is on chain
        raise UsageError(f"--out {out} already holds {', '.join(existing)}: choose an empty folder")
    salt = random_salt()
    with Prover() as prover:
        bundle = prover.prove(readings, salt, args.threshold, args.epoch, node)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out}: {exc.strerror}") from None
    _write_json(out / "proof.json", bundle.proof)
    _write_json(out / "public.json", bundle.public_signals)
    _write_json(out / "calldata.json", bundle.calldata())
    # The opening lets the node show an auditor which readings the commitment binds; the salt hides them.
    opening = out / "opening.json"
    fd = os.open(opening, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"readings_mj": readings, "salt": str(salt), "node": str(node), "epoch": args.epoch,
                   "commitment": bundle.public_signals[3]}, fh, indent=2)
        fh.write("\n")
    print(f"proved epoch {args.epoch}: {sum(readings)} mJ <= {args.threshold} mJ; wrote {out}/proof.json, "
          "public.json, calldata.json, opening.json")
    return 0


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def verify_command(args: argparse.Namespace) -> int:
    vk = load_verification_key(args.vk)
    proof = load_json_file(args.proof, "proof")
    public = load_json_file(args.public, "public signals")
    reason = check(vk, proof, public)  # MalformedProof is a UsageError: one line, exit 2
    if reason is None:
        print("valid")
        return 0
    print(f"invalid: {reason}")
    return 1
