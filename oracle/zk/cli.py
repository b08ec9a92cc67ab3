"""`ecoai prove` and `ecoai verify`: Groth16 efficiency proofs from an (energy, work) CSV, checked on py_ecc.

`ecoai prove --efficiency-uj-per-unit T` proves that the epoch's energy per unit of work is at most the tier T;
`ecoai verify` checks one proof, several at once (--batch) or an epoch accepted on chain (--onchain), against the
circuit's verification key unless --vk is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from oracle.errors import UsageError
from oracle.conventions import N_INTERVALS
from oracle.zk.artifacts import EFFICIENCY
from oracle.zk.efficiency import Method, check_efficiency_inputs, methods_code, random_salt
from oracle.zk.prover import Prover
from oracle.zk.verifier import batch_check, check, load_json_file, load_verification_key

CSV_HEADER = ("energy_mj", "work_units")
METHOD_NAMES = [m.name.lower() for m in Method]
OUTPUT_FILES = ("proof.json", "public.json", "calldata.json", "opening.json")


# The attribute of `ecoai verify`'s parsed arguments that holds the node's chain-config reader:
# (config file | None, rpc_url override | None, deployment override | None) -> an object with `rpc_url` and
# `deployment_path()` (oracle.node.config.ChainConfig). Set by oracle.node.cli.register.
ONCHAIN_CONFIG_READER = "onchain_chain_config"


def register(subparsers: argparse._SubParsersAction) -> None:
    prove = subparsers.add_parser(
        "prove", help="prove that an epoch's energy per unit of work stayed within an efficiency tier",
        description=f"Prove with Groth16 that over the {N_INTERVALS} intervals of an epoch "
                    "1000 * sum(energy_mj) <= T * sum(work_units), i.e. at most T microjoules per unit of work. "
                    "Writes DIR/proof.json, DIR/public.json (snarkjs format), DIR/calldata.json "
                    "(EVM) and DIR/opening.json (values and salt that open the commitment; keep it private). "
                    "Exit 2 when the readings do not meet the tier, total work is 0, or the input is malformed.")
    prove.add_argument("--readings", type=Path, required=True, metavar="FILE.csv",
                       help=f"header {','.join(CSV_HEADER)}, exactly {N_INTERVALS} rows of integers "
                            "(mJ, work units)")
    prove.add_argument("--efficiency-uj-per-unit", type=_integer, required=True, metavar="T",
                       help="the efficiency tier, microjoules per unit of work")
    prove.add_argument("--energy-method", choices=METHOD_NAMES, default="measured",
                       help="how the energy was obtained, bound by the proof (default measured)")
    prove.add_argument("--work-method", choices=METHOD_NAMES, default="measured",
                       help="how the work was obtained, bound by the proof (default measured)")
    prove.add_argument("--epoch", type=_integer, required=True, metavar="E", help="epoch number")
    prove.add_argument("--node", required=True, metavar="ADDR", help="the node's 0x address")
    prove.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    prove.set_defaults(handler=prove_command)

    verify = subparsers.add_parser(
        "verify", help="verify Groth16 proofs with py_ecc, from files or from the chain (exit 0 valid, 1 invalid, "
                       "2 malformed)",
        description="Verify a snarkjs proof.json + public.json against a verification key, independently of "
                    "snarkjs: `ecoai verify PROOF PUBLIC`. Or verify several at once with one batched pairing "
                    "check: `ecoai verify --batch ITEM [ITEM ...]`, each ITEM either a folder holding "
                    "proof.json and public.json (as `ecoai prove --out` writes) or PROOF.json,PUBLIC.json "
                    "(two paths joined by a comma); the batch is valid only if every proof is. The key is "
                    "circuits/keys/efficiency_verification_key.json unless --vk is given. Exit 0 valid, 1 invalid, 2 malformed input; prints one line. Or re-verify "
                    "an accepted epoch from the chain: `ecoai verify --onchain NODE EPOCH` (below).")
    verify.add_argument("proof", type=Path, nargs="?", metavar="PROOF", help="proof.json")
    verify.add_argument("public", type=Path, nargs="?", metavar="PUBLIC", help="public.json")
    verify.add_argument("--batch", nargs="+", metavar="ITEM", default=None,
                        help="DIR (with proof.json, public.json) or PROOF.json,PUBLIC.json; several")
    verify.add_argument("--vk", type=Path, default=None, metavar="FILE",
                        help="verification key (default: circuits/keys/efficiency_verification_key.json)")
    onchain = verify.add_argument_group(
        "on chain", "`ecoai verify --onchain NODE EPOCH`: re-verify an epoch GreenProof accepted, from the chain "
                    "alone (no EcoAI server): finds its EpochProved event, decodes the submit/submitBatch "
                    "transaction with the deployment's ABI, rebuilds the public inputs as the contract does "
                    "([tier, work, epoch, node, methods, commitment]) and checks the proof with py_ecc against the "
                    "efficiency key. Exit 0 valid, 1 invalid, 2 never accepted, not rebuildable (sent through "
                    "another contract) or bad input.")
    onchain.add_argument("--onchain", nargs=2, metavar=("NODE", "EPOCH"), default=None,
                         help="the node's 0x address and the epoch number")
    onchain.add_argument("--config", type=Path, default=None, metavar="FILE",
                         help="the node's config (oracle.toml): chain.rpc_url and chain.deployment "
                              "(default: built-in defaults, http://127.0.0.1:8545 and <state>/deployments/local.json)")
    onchain.add_argument("--rpc-url", default=None, metavar="URL", help="override chain.rpc_url")
    onchain.add_argument("--deployment", type=Path, default=None, metavar="FILE",
                         help="override chain.deployment (the deployment file with GreenProof's address and ABI)")
    onchain.add_argument("--tamper-input", type=_integer, default=None, metavar="K",
                         help="self-test switch: add 1 to rebuilt public input K (0-5) before verifying; the "
                              "check must then say invalid (exit 1), showing it really depends on the inputs")
    verify.set_defaults(handler=verify_command)


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a decimal integer: {text!r}") from None


def read_efficiency_csv(path: Path) -> tuple[list[int], list[int]]:
    """The intervals of one epoch: header `energy_mj,work_units`, exactly N_INTERVALS rows of two non-negative
    integers (mJ, work units)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read CSV: {exc}") from None
    if not rows or tuple(cell.strip() for cell in rows[0]) != CSV_HEADER:
        raise UsageError(f"{path}: the first line must be the header {','.join(CSV_HEADER)}")
    energy, work = [], []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            raise UsageError(f"{path}:{line_no}: empty line (a missing interval is not zero)")
        if len(row) != 2:
            raise UsageError(f"{path}:{line_no}: expected two columns, got {len(row)}")
        for cell, name in zip(row, CSV_HEADER):
            cell = cell.strip()
            if not cell.isascii() or not cell.isdigit():
                raise UsageError(f"{path}:{line_no}: {name} {cell!r} is not a non-negative integer")
        energy.append(int(row[0]))
        work.append(int(row[1]))
    if len(energy) != N_INTERVALS:
        raise UsageError(f"{path}: an epoch needs exactly {N_INTERVALS} intervals, got {len(energy)} "
                         "(a missing interval is not zero, so nothing is padded)")
    return energy, work


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing:  # an earlier opening.json may be the only copy of a salt whose commitment is on chain
        raise UsageError(f"--out {out} already holds {', '.join(existing)}: choose an empty folder")


def _write_outputs(out: Path, bundle, opening: dict) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out}: {exc.strerror}") from None
    _write_json(out / "proof.json", bundle.proof)
    _write_json(out / "public.json", bundle.public_signals)
    _write_json(out / "calldata.json", bundle.calldata())
    # The opening lets the node show an auditor which values the commitment binds; the salt hides them.
    fd = os.open(out / "opening.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(opening, fh, indent=2)
        fh.write("\n")


def prove_command(args: argparse.Namespace) -> int:
    energy, work = read_efficiency_csv(args.readings)
    methods = methods_code(args.energy_method, args.work_method)
    tier = args.efficiency_uj_per_unit
    checked = check_efficiency_inputs(energy, work, tier, args.epoch, args.node, methods)  # before Node starts
    _check_out_dir(args.out)
    salt = random_salt()
    with Prover() as prover:
        bundle = prover.prove_efficiency(energy, work, salt, tier, args.epoch, checked.node, methods)
    _write_outputs(args.out, bundle, {
        "energy_mj": energy, "work_units": work, "salt": str(salt), "node": str(checked.node),
        "epoch": args.epoch, "methods": methods, "energy_method": args.energy_method,
        "work_method": args.work_method, "commitment": str(bundle.commitment)})
    print(f"proved epoch {args.epoch}: {sum(energy)} mJ for {checked.work_units_total} work units "
          f"<= {tier} uJ per unit; wrote {args.out}/proof.json, public.json, calldata.json, opening.json")
    return 0


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")




def _batch_item(item: str) -> tuple[Path, Path]:
    path = Path(item)
    if path.is_dir():
        return path / "proof.json", path / "public.json"
    if "," in item:
        proof, public = item.split(",", 1)
        return Path(proof), Path(public)
    raise UsageError(f"--batch {item!r}: expected a folder with proof.json and public.json, or "
                     "PROOF.json,PUBLIC.json")


def verify_command(args: argparse.Namespace) -> int:
    if args.onchain is not None:
        if args.proof is not None or args.batch is not None:
            raise UsageError("give either --onchain NODE EPOCH, PROOF PUBLIC or --batch ITEM..., not several")
        return _verify_onchain(args)
    onchain_only = [flag for flag, value in (("--config", args.config), ("--rpc-url", args.rpc_url),
                                              ("--deployment", args.deployment), ("--tamper-input", args.tamper_input))
                    if value is not None]
    if onchain_only:
        raise UsageError(f"{', '.join(onchain_only)} only go with --onchain NODE EPOCH")
    if args.batch is not None:
        if args.proof is not None:
            raise UsageError("give either PROOF PUBLIC or --batch ITEM..., not both")
        return _verify_batch(args)
    if args.proof is None or args.public is None:
        raise UsageError("give PROOF and PUBLIC (or --batch ITEM...)")
    proof = load_json_file(args.proof, "proof")
    public = load_json_file(args.public, "public signals")
    vk = load_verification_key(args.vk)
    reason = check(vk, proof, public)  # MalformedProof is a UsageError: one line, exit 2
    if reason is None:
        print("valid")
        return 0
    print(f"invalid: {reason}")
    return 1


def _verify_batch(args: argparse.Namespace) -> int:
    pairs = []
    for item in args.batch:
        proof_path, public_path = _batch_item(item)
        pairs.append((load_json_file(proof_path, "proof"), load_json_file(public_path, "public signals")))
    vk = load_verification_key(args.vk)
    reason = batch_check(vk, pairs)
    if reason is None:
        print(f"valid: {_count(len(pairs), 'proof')}")
        return 0
    print(f"invalid: {reason}")
    return 1


def _count(n: int, word: str) -> str:
    """"1 proof", "2 proofs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _verify_onchain(args: argparse.Namespace) -> int:
    from web3 import Web3

    from oracle.chain.deployment import load_deployment
    from oracle.zk.onchain import fetch_onchain_epoch, tampered

    node_text, epoch_text = args.onchain
    if not Web3.is_address(node_text):
        raise UsageError(f"--onchain NODE: not a 0x address: {node_text!r}")
    node = Web3.to_checksum_address(node_text)
    try:
        epoch = int(epoch_text, 10)
    except ValueError:
        raise UsageError(f"--onchain EPOCH: not a decimal integer: {epoch_text!r}") from None
    if not 0 <= epoch < 1 << 64:
        raise UsageError(f"--onchain EPOCH: must be 0 to 2^64 - 1, got {epoch}")
    # The node's config file format belongs to the node (a layer above): the application layer (oracle.app.cli)
    # sets its reader on this parser (ONCHAIN_CONFIG_READER); it returns the config's chain section.
    read_chain_config = getattr(args, ONCHAIN_CONFIG_READER, None)
    if read_chain_config is None:
        raise UsageError("--onchain needs the node's config reader (run it as `ecoai verify --onchain`)")
    chain = read_chain_config(args.config, args.rpc_url, args.deployment)
    what = "--deployment" if args.deployment is not None else "config field chain.deployment"
    deployment = load_deployment(chain.deployment_path(), what)
    vk = load_verification_key(args.vk)

    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS, HTTP errors: one line, exit 2
        raise UsageError(f"cannot reach the chain at {chain.rpc_url}: {exc}") from None
    if chain_id != deployment.chain_id:
        raise UsageError(f"the chain at {chain.rpc_url} has chain id {chain_id}, the deployment file "
                         f"{chain.deployment_path()} is for chain {deployment.chain_id}")
    green = deployment.green_proof(w3)
    record = fetch_onchain_epoch(w3, green, node, epoch, from_block=deployment.block)  # UsageError: exit 2
    inputs = record.public_inputs
    if args.tamper_input is not None:
        inputs = tampered(inputs, args.tamper_input)
    sub, event = record.submission, record.event
    where = ("submit by the node" if sub.function == "submit" else
             f"submitBatch item {sub.batch_index + 1} of {sub.batch_size}, relayed by {sub.sender}")
    print(f"node {node} epoch {epoch}: accepted in tx {event.tx_hash} (block {event.block_number}, {where})")
    for name, value in zip((n for n, _ in record.named_inputs()), inputs, strict=True):
        print(f"  {name:<24} {value}")
    tier_note = f"tier {event.tier} = {event.efficiency_uj_per_unit} uJ per unit (from the EpochProved event)"
    if record.class_tiers_at_block is not None:
        tiers = record.class_tiers_at_block
        if event.tier < len(tiers) and tiers[event.tier] == event.efficiency_uj_per_unit:
            tier_note += f"; the class's tiers at block {event.block_number} agree"
        else:
            tier_note += (f"; note: the class's tiers read at block {event.block_number} are {tiers} (governance "
                          "changed them in that block, after this submission)")
    print(f"  {tier_note}")
    if args.tamper_input is not None:
        print(f"  self-test: public input {args.tamper_input} increased by 1")
    reason = check(vk, record.proof, [str(v) for v in inputs])
    key_path = args.vk if args.vk is not None else EFFICIENCY.verification_key
    if reason is None:
        print(f"valid: the proof verifies against {key_path} (py_ecc)")
        return 0
    print(f"invalid: {reason}")
    return 1
