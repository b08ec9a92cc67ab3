"""`ecoai prove` and `ecoai verify`: Groth16 green proofs from a readings CSV, checked on py_ecc.

Two statements while v1 and v2 live side by side: `--threshold` proves v1 (Σ energy ≤ threshold),
`--efficiency-uj-per-unit` proves v2 (energy per unit of work ≤ the tier). `ecoai verify` picks the key by the
number of public signals (v1: 4, v2: 6) unless --vk is given, and checks several proofs at once with --batch.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from oracle.errors import UsageError
from oracle.zk.artifacts import EFFICIENCY, circuit_for_public_count
from oracle.zk.efficiency import Method, check_efficiency_inputs, methods_code
from oracle.zk.errors import MalformedProof
from oracle.zk.prover import N_READINGS, Prover, check_inputs, random_salt
from oracle.zk.verifier import batch_check, check, load_json_file, load_verification_key

CSV_HEADER = "energy_mj"
CSV_HEADER_V2 = ("energy_mj", "work_units")
METHOD_NAMES = [m.name.lower() for m in Method]
OUTPUT_FILES = ("proof.json", "public.json", "calldata.json", "opening.json")


# The attribute of `ecoai verify`'s parsed arguments that holds the node's chain-config reader:
# (config file | None, rpc_url override | None, deployment override | None) -> an object with `rpc_url` and
# `deployment_path()` (oracle.node.config.ChainConfig). Set by oracle.node.cli.register.
ONCHAIN_CONFIG_READER = "onchain_chain_config"


def register(subparsers: argparse._SubParsersAction) -> None:
    prove = subparsers.add_parser(
        "prove", help="prove that an epoch's energy per unit of work (or its energy) stayed within a tier",
        description=f"v2 (--efficiency-uj-per-unit): prove with Groth16 that over the {N_READINGS} intervals of "
                    "an epoch 1000 * sum(energy_mj) <= T * sum(work_units), i.e. at most T microjoules per unit "
                    "of work. v1 (--threshold, until the switch to v2): prove the readings sum to at most "
                    "THRESHOLD mJ. Writes DIR/proof.json, DIR/public.json (snarkjs format), DIR/calldata.json "
                    "(EVM) and DIR/opening.json (values and salt that open the commitment; keep it private). "
                    "Exit 2 when the readings do not meet the tier, total work is 0, or the input is malformed.")
    prove.add_argument("--readings", type=Path, required=True, metavar="FILE.csv",
                       help=f"v2: header {','.join(CSV_HEADER_V2)}, exactly {N_READINGS} rows of integers "
                            f"(mJ, work units); v1: one column with header {CSV_HEADER}")
    statement = prove.add_mutually_exclusive_group(required=True)
    statement.add_argument("--efficiency-uj-per-unit", type=_integer, metavar="T",
                           help="v2: the efficiency tier, microjoules per unit of work")
    statement.add_argument("--threshold", type=_integer, metavar="MJ", help="v1: threshold in mJ")
    prove.add_argument("--energy-method", choices=METHOD_NAMES, default="measured",
                       help="v2: how the energy was obtained, bound by the proof (default measured)")
    prove.add_argument("--work-method", choices=METHOD_NAMES, default="measured",
                       help="v2: how the work was obtained, bound by the proof (default measured)")
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
                    "chosen by the number of public signals (4: v1 energy budget, 6: v2 efficiency) unless "
                    "--vk is given. Exit 0 valid, 1 invalid, 2 malformed input; prints one line. Or re-verify "
                    "an accepted epoch from the chain: `ecoai verify --onchain NODE EPOCH` (below).")
    verify.add_argument("proof", type=Path, nargs="?", metavar="PROOF", help="proof.json")
    verify.add_argument("public", type=Path, nargs="?", metavar="PUBLIC", help="public.json")
    verify.add_argument("--batch", nargs="+", metavar="ITEM", default=None,
                        help="DIR (with proof.json, public.json) or PROOF.json,PUBLIC.json; several")
    verify.add_argument("--vk", type=Path, default=None, metavar="FILE",
                        help="verification key (default: by public-signal count, circuits/keys/"
                             "verification_key.json for v1, circuits/keys/efficiency_verification_key.json for v2)")
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


def read_efficiency_csv(path: Path) -> tuple[list[int], list[int]]:
    """v2: header `energy_mj,work_units`, exactly N_READINGS rows of two non-negative integers."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read CSV: {exc}") from None
    if not rows or tuple(cell.strip() for cell in rows[0]) != CSV_HEADER_V2:
        raise UsageError(f"{path}: the first line must be the header {','.join(CSV_HEADER_V2)}")
    energy, work = [], []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            raise UsageError(f"{path}:{line_no}: empty line (a missing interval is not zero)")
        if len(row) != 2:
            raise UsageError(f"{path}:{line_no}: expected two columns, got {len(row)}")
        for cell, name in zip(row, CSV_HEADER_V2):
            cell = cell.strip()
            if not cell.isascii() or not cell.isdigit():
                raise UsageError(f"{path}:{line_no}: {name} {cell!r} is not a non-negative integer")
        energy.append(int(row[0]))
        work.append(int(row[1]))
    if len(energy) != N_READINGS:
        raise UsageError(f"{path}: an epoch needs exactly {N_READINGS} intervals, got {len(energy)} "
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


def prove_efficiency_command(args: argparse.Namespace) -> int:
    energy, work = read_efficiency_csv(args.readings)
    methods = methods_code(args.energy_method, args.work_method)
    tier = args.efficiency_uj_per_unit
    checked = check_efficiency_inputs(energy, work, tier, args.epoch, args.node, methods)  # before Node starts
    _check_out_dir(args.out)
    salt = random_salt()
    with Prover(circuit=EFFICIENCY) as prover:
        bundle = prover.prove_efficiency(energy, work, salt, tier, args.epoch, checked.node, methods)
    _write_outputs(args.out, bundle, {
        "energy_mj": energy, "work_units": work, "salt": str(salt), "node": str(checked.node),
        "epoch": args.epoch, "methods": methods, "energy_method": args.energy_method,
        "work_method": args.work_method, "commitment": str(bundle.commitment)})
    print(f"proved epoch {args.epoch}: {sum(energy)} mJ for {checked.work_units_total} work units "
          f"<= {tier} uJ per unit; wrote {args.out}/proof.json, public.json, calldata.json, opening.json")
    return 0


def prove_command(args: argparse.Namespace) -> int:
    if args.efficiency_uj_per_unit is not None:
        return prove_efficiency_command(args)
    readings = read_readings_csv(args.readings)
    _, _, _, node = check_inputs(readings, args.threshold, args.epoch, args.node)  # before starting Node
    _check_out_dir(args.out)
    salt = random_salt()
    with Prover() as prover:
        bundle = prover.prove(readings, salt, args.threshold, args.epoch, node)
    _write_outputs(args.out, bundle, {"readings_mj": readings, "salt": str(salt), "node": str(node),
                                      "epoch": args.epoch, "commitment": bundle.public_signals[3]})
    print(f"proved epoch {args.epoch}: {sum(readings)} mJ <= {args.threshold} mJ; wrote {args.out}/proof.json, "
          "public.json, calldata.json, opening.json")
    return 0


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _key_for(public: object, vk_path: Path | None) -> dict:
    if vk_path is not None:
        return load_verification_key(vk_path)
    count = len(public) if isinstance(public, list) else -1
    circuit = circuit_for_public_count(count)
    if circuit is None:
        raise MalformedProof(f"public signals must be a list of 4 (v1) or 6 (v2) values, got "
                             f"{count if count >= 0 else type(public).__name__}; or give --vk")
    return load_verification_key(circuit.verification_key)


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
    vk = _key_for(public, args.vk)
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
    counts = {len(public) if isinstance(public, list) else -1 for _, public in pairs}
    if len(counts) != 1 and args.vk is None:
        raise MalformedProof("a batch mixes proofs of different circuits (public-signal counts "
                             f"{sorted(counts)}); one batch is one verification key")
    vk = _key_for(pairs[0][1], args.vk)
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
    vk = load_verification_key(args.vk if args.vk is not None else EFFICIENCY.verification_key)

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
