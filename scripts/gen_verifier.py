#!/usr/bin/env python3
"""Generate the Solidity Groth16 verifier from the circuit's snarkjs verification key (our Jinja2 template).

    python scripts/gen_verifier.py [--vkey FILE] [--out FILE.sol] [--check]

circuits/keys/efficiency_verification_key.json → contracts/Groth16Verifier.sol (contract Groth16Verifier, with
verifyProof and the batch check verifyBatch), the verifier GreenProof calls. --vkey / --out override the paths.

The output depends only on the key's bytes and its path label, so regenerating from the same key gives a
byte-identical file; `--check` exits 1 when the committed file differs from what the key generates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import jinja2
from py_ecc import bn128

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from oracle.zk.artifacts import EFFICIENCY  # noqa: E402

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
CONTRACT_NAME = "Groth16Verifier"  # the generated verifier's contract name (GreenProof's IGroth16Verifier)
DEFAULT_VKEY = EFFICIENCY.verification_key
DEFAULT_OUT = REPO_ROOT / "contracts" / f"{CONTRACT_NAME}.sol"
BATCH_DOMAIN = "EcoAI.GreenProof.batch.v1"  # oracle.zk.verifier.BATCH_DOMAIN


class KeyError_(ValueError):
    """The verification key is not a BN254 Groth16 key we can generate a verifier for."""


def _g1(values: list[str], what: str) -> tuple[int, int]:
    x, y, z = (int(v) for v in values)
    if z != 1:
        raise KeyError_(f"{what}: expected an affine point (z = 1)")
    point = (bn128.FQ(x), bn128.FQ(y))
    if x >= bn128.field_modulus or y >= bn128.field_modulus or not bn128.is_on_curve(point, bn128.b):
        raise KeyError_(f"{what}: not a BN254 G1 point")
    return x, y


def _g2(values: list[list[str]], what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    (x0, x1), (y0, y1), (z0, z1) = ((int(a), int(b)) for a, b in values)
    if (z0, z1) != (1, 0):
        raise KeyError_(f"{what}: expected an affine point (z = 1)")
    point = (bn128.FQ2([x0, x1]), bn128.FQ2([y0, y1]))
    if any(v >= bn128.field_modulus for v in (x0, x1, y0, y1)) or not bn128.is_on_curve(point, bn128.b2):
        raise KeyError_(f"{what}: not a BN254 G2 point")
    return (x0, x1), (y0, y1)  # [c0, c1]; the template writes c1 first, as EIP-197 expects


def _keccak_words(words: list[int]) -> int:
    from eth_utils import keccak

    return int.from_bytes(keccak(b"".join(w.to_bytes(32, "big") for w in words)), "big")


def render(vkey_bytes: bytes, source: str) -> str:
    """The verifier's Solidity source for a snarkjs verification key (its raw bytes) labelled `source`."""
    vkey = json.loads(vkey_bytes)
    if vkey.get("protocol") != "groth16" or vkey.get("curve") != "bn128":
        raise KeyError_("expected a snarkjs groth16 key on bn128")
    n_public = int(vkey["nPublic"])
    if len(vkey["IC"]) != n_public + 1:
        raise KeyError_(f"IC has {len(vkey['IC'])} points, expected nPublic + 1 = {n_public + 1}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    alpha = _g1(vkey["vk_alpha_1"], "vk_alpha_1")
    g2 = [(name.upper(), _g2(vkey[f"vk_{name}_2"], f"vk_{name}_2")) for name in ("beta", "gamma", "delta")]
    ic = [_g1(point, f"IC[{i}]") for i, point in enumerate(vkey["IC"])]
    # vk_hash as oracle.zk.verifier.vk_hash: the key's words in the order the template holds them.
    vk_words = [*alpha]
    for _, ((x0, x1), (y0, y1)) in g2:
        vk_words += [x1, x0, y1, y0]
    for point in ic:
        vk_words += list(point)
    from eth_utils import keccak

    return env.get_template("Groth16Verifier.sol.j2").render(
        source=source,
        contract_name=CONTRACT_NAME,
        batch_domain=BATCH_DOMAIN,
        batch_domain_word=int.from_bytes(keccak(BATCH_DOMAIN.encode()), "big"),
        vk_hash=_keccak_words(vk_words),
        title=EFFICIENCY.title,
        key_sha256=hashlib.sha256(vkey_bytes).hexdigest(),
        n_public=n_public,
        r=bn128.curve_order,
        q=bn128.field_modulus,
        alpha=alpha,
        g2=g2,
        ic=ic,
    )


def source_label(path: Path) -> str:
    """The key's path relative to the checkout when inside it (stable across machines), else its name."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vkey", type=Path, default=DEFAULT_VKEY,
                        help="snarkjs verification key (default: circuits/keys/efficiency_verification_key.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="Solidity file to write (default: contracts/Groth16Verifier.sol)")
    parser.add_argument("--check", action="store_true", help="only compare with --out; exit 1 if it differs")
    args = parser.parse_args(argv)
    try:
        source = render(args.vkey.read_bytes(), source_label(args.vkey))
    except (OSError, ValueError, KeyError) as exc:
        print(f"gen_verifier: {args.vkey}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_bytes() if args.out.exists() else b""
        if current != source.encode():
            print(f"gen_verifier: {args.out} is not what {args.vkey} generates", file=sys.stderr)
            return 1
        vk = json.loads(args.vkey.read_bytes())
        print(f"ok: {args.out} is byte-identical to the template rendered from {source_label(args.vkey)} "
              f"(sha256 {hashlib.sha256(current).hexdigest()[:16]}…; {len(vk['IC']) - 1} public inputs, "
              f"alpha/beta/gamma/delta and {len(vk['IC'])} IC points embedded)")
        return 0
    args.out.write_bytes(source.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
