"""Fault campaign 1: fuzzed submissions against the deployed v2 contracts on a real anvil.

Ten real Groth16 proofs of the efficiency circuit (three nodes, two classes, several tiers and methods) are
made once. Four are settled by real transactions (two single submits, one relayed submitBatch); the other six
stay valid and unsettled, so a mutation that keeps them valid WOULD be accepted - the harness checks that it
can see an acceptance (control group) before it counts refusals.

Mutations (none needs a new proof):
- proof words (+δ, +r, +q, −r, 2^255, 0, 1, q−1, random field element, random uint256, a bit flip, the same word
  of another proof) and whole points (−A, −B, −C, B's c0/c1 swapped, A or C at infinity, generators, A↔C, points
  mixed from two proofs);
- public arguments: epoch, tier, work, methods, commitment (incl. the field alias x + r, r − 1, 2^256 − 1), dirty
  high bits above the ABI type, another node as sender (admitted, outsider, never admitted, zero address);
- one proof with another's arguments; re-randomised proofs of ACCEPTED epochs (A' = A·r1⁻¹, B' = r1·B + r1·r2·δ,
  C' = C + r2·A, and (−A, −B, C)), alone or with changed arguments;
- submitBatch with one corrupted item among valid unsettled ones (any mutation above, a swapped `node` field,
  proofs permuted between items, duplicates, a settled item, a re-randomised settled item, empty, bad lengths);
- Groth16Verifier.verifyProof / verifyBatch directly with aliased public inputs (x + r, x + 2r, ...) and
  corrupted words.

Every mutation runs as eth_call (nothing mined); a sample also runs as real transactions from the unlocked dev
accounts. Counted: how many were accepted (eth_call without revert, a verifier answering true, a receipt with
status 1) beyond the valid originals - must be 0 - and the revert reasons seen."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from faultlib import CampaignResult, Deadline, JsonRpc

from eth_utils import keccak
from py_ecc.bn128 import G2, curve_order as R, field_modulus as Q
from py_ecc.optimized_bn128 import FQ, FQ2, add, multiply, normalize

from oracle.conventions import Submission

U256 = 2**256
ENC_CLASS = "H200/encoder-bf16/item"  # replayed demo class (any methods); tiers 149172 < 186824 < 290578 < ...
MLP_CLASS = "H200/mlp8x4096/item"  # require_measured (methods must be 0); tiers 493 < 1262 < ...
REGION = "KR"
EPOCH_S = 5

SEL_SUBMIT = keccak(text="submit(uint64,uint8,uint64,uint8,uint256,uint256[8])")[:4]
SEL_BATCH = keccak(text="submitBatch((address,uint64,uint8,uint64,uint8,uint256,uint256[8])[])")[:4]
SEL_VERIFY = keccak(text="verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[6])")[:4]
SEL_VERIFY_BATCH = keccak(text="verifyBatch(uint256[8][],uint256[6][])")[:4]


def _words(*values: int) -> bytes:
    return b"".join((v % U256).to_bytes(32, "big") for v in values)


@dataclass(frozen=True)
class Valid(Submission):
    """A real proof and the arguments it is valid for."""
    name: str = ""
    inputs: tuple[int, ...] = ()
    settled: bool = False

    def args(self) -> list[int]:
        return [self.epoch, self.tier, self.work, self.methods, self.commitment, *self.proof]

    def item(self) -> list[int]:
        return [int(self.node, 16), *self.args()]


def submit_data(args: list[int]) -> str:
    return "0x" + (SEL_SUBMIT + _words(*args)).hex()


def batch_data(items: list[list[int]], length: int | None = None) -> str:
    flat = [w for item in items for w in item]
    return "0x" + (SEL_BATCH + _words(0x20, len(items) if length is None else length, *flat)).hex()


def verify_data(proof: list[int], inputs: list[int]) -> str:
    return "0x" + (SEL_VERIFY + _words(*proof, *inputs)).hex()


def verify_batch_data(proofs: list[list[int]], inputs: list[list[int]]) -> str:
    n = len(proofs)
    head = _words(0x40, 0x40 + 32 + n * 256)
    return "0x" + (SEL_VERIFY_BATCH + head + _words(n, *[w for p in proofs for w in p])
                   + _words(len(inputs), *[w for i in inputs for w in i])).hex()


# ---------------------------------------------------------------- Groth16 points (py_ecc)


def _g1(p: list[int], at: int) -> tuple:
    return (FQ(p[at]), FQ(p[at + 1]), FQ.one())  # projective (py_ecc.optimized_bn128)


def _g2(p: list[int]) -> tuple:
    return (FQ2([p[3], p[2]]), FQ2([p[5], p[4]]), FQ2.one())  # calldata is [x.c1, x.c0, y.c1, y.c0]


def _fq2_words(b: tuple) -> tuple[int, int, int, int]:
    return tuple(int(x) for x in (b[0].coeffs[1], b[0].coeffs[0], b[1].coeffs[1], b[1].coeffs[0]))  # type: ignore


def rerandomise(proof: tuple[int, ...], delta: tuple, rng: random.Random) -> tuple[int, ...]:
    """The standard Groth16 re-randomisation: (A·r1⁻¹, r1·B + r1·r2·δ, C + r2·A) verifies for the same
    statement whenever (A, B, C) does."""
    p = list(proof)
    a, b, c = _g1(p, 0), _g2(p), _g1(p, 6)
    r1, r2 = rng.randrange(2, R), rng.randrange(1, R)
    a2 = normalize(multiply(a, pow(r1, -1, R)))
    b2 = normalize(add(multiply(b, r1), multiply(delta, r1 * r2 % R)))
    c2 = normalize(add(c, multiply(a, r2)))
    return (int(a2[0]), int(a2[1]), *_fq2_words(b2), int(c2[0]), int(c2[1]))


def negate_ab(proof: tuple[int, ...]) -> tuple[int, ...]:
    """(−A, −B, C): e(−A, −B) = e(A, B), the other classic malleation."""
    p = list(proof)
    return (p[0], (Q - p[1]) % Q, p[2], p[3], (Q - p[4]) % Q, (Q - p[5]) % Q, p[6], p[7])


def load_delta() -> tuple:
    import json

    from oracle.zk.artifacts import EFFICIENCY

    d = json.loads(EFFICIENCY.verification_key.read_text())["vk_delta_2"]
    return (FQ2([int(d[0][0]), int(d[0][1])]), FQ2([int(d[1][0]), int(d[1][1])]), FQ2.one())


# ---------------------------------------------------------------- mutations


def mutate_word(rng: random.Random, value: int, pool: list[int]) -> tuple[str, int]:
    """(kind, new value ≠ value mod 2^256)."""
    while True:
        kind = rng.choice(["+d", "+r", "+q", "-r", "+2^255", "=0", "=1", "=q-1", "=r-1", "=field", "=u256",
                           "bitflip", "pool"])
        if kind == "+d":
            new = value + rng.choice([-3, -2, -1, 1, 2, 3])
        elif kind == "+r":
            new = value + R
        elif kind == "+q":
            new = value + Q
        elif kind == "-r":
            new = value - R
        elif kind == "+2^255":
            new = value + 2**255
        elif kind == "=0":
            new = 0
        elif kind == "=1":
            new = 1
        elif kind == "=q-1":
            new = Q - 1
        elif kind == "=r-1":
            new = R - 1
        elif kind == "=field":
            new = rng.randrange(Q)
        elif kind == "=u256":
            new = rng.randrange(U256)
        elif kind == "bitflip":
            new = value ^ (1 << rng.randrange(256))
        else:
            new = rng.choice(pool) if pool else value + 1
        new %= U256
        if new != value % U256:
            return kind, new


def mutate_points(rng: random.Random, p: list[int], others: list[tuple[int, ...]]) -> tuple[str, list[int]]:
    other = list(rng.choice(others))
    gx2 = _fq2_words(G2)
    choices = {
        "-A": lambda: [p[0], (Q - p[1]) % Q, *p[2:]],
        "-B": lambda: [*p[:4], (Q - p[4]) % Q, (Q - p[5]) % Q, *p[6:]],
        "-C": lambda: [*p[:7], (Q - p[7]) % Q],
        "B c0/c1 swapped": lambda: [p[0], p[1], p[3], p[2], p[5], p[4], p[6], p[7]],
        "A at infinity": lambda: [0, 0, *p[2:]],
        "C at infinity": lambda: [*p[:6], 0, 0],
        "B at infinity": lambda: [p[0], p[1], 0, 0, 0, 0, p[6], p[7]],
        "A = G1": lambda: [1, 2, *p[2:]],
        "B = G2": lambda: [p[0], p[1], *gx2, p[6], p[7]],
        "A <-> C": lambda: [p[6], p[7], *p[2:6], p[0], p[1]],
        "A from another proof": lambda: [other[0], other[1], *p[2:]],
        "B from another proof": lambda: [p[0], p[1], *other[2:6], p[6], p[7]],
        "C from another proof": lambda: [*p[:6], other[6], other[7]],
        "all zero": lambda: [0] * 8,
        "A off curve": lambda: [p[0], (p[1] + 1) % Q, *p[2:]],
    }
    kind = rng.choice(sorted(choices))
    new = choices[kind]()
    if new == p:
        return mutate_points(rng, p, others)
    return kind, new


ARG_NAMES = ("epoch", "tier", "work", "methods", "commitment")
ARG_BITS = {"epoch": 64, "tier": 8, "work": 64, "methods": 8}


def mutate_arg(rng: random.Random, v: Valid, valids: list[Valid], now_epoch: int) -> tuple[str, list[int]]:
    args = v.args()
    name = rng.choice(ARG_NAMES)
    i = ARG_NAMES.index(name)
    old = args[i]
    if name != "commitment" and rng.random() < 0.08:  # dirty high bits: the same low bits, a bigger word
        new = old + (1 << ARG_BITS[name]) * rng.randrange(1, 2**20)
        kind = "dirty high bits"
    elif name == "epoch":
        kind, new = rng.choice([
            ("±k", old + rng.choice([-3, -2, -1, 1, 2, 3])), ("0", 0), ("2^64-1", 2**64 - 1),
            ("other proof's epoch", rng.choice([x.epoch for x in valids])), ("current", now_epoch),
            ("future", now_epoch + rng.randrange(1, 10**6)), ("ancient", rng.randrange(0, old)),
        ])
    elif name == "tier":
        kind, new = rng.choice([("other tier", rng.randrange(0, 6)), ("any", rng.randrange(256))])
    elif name == "work":
        kind, new = rng.choice([
            ("±k", old + rng.choice([-2, -1, 1, 2])), ("0", 0), ("×2", old * 2), ("/2", old // 2),
            ("2^64-1", 2**64 - 1), ("other W", rng.choice([x.work for x in valids])),
            ("random", rng.randrange(2**64)),
        ])
    elif name == "methods":
        kind, new = rng.choice([("small", rng.randrange(0, 0x40)), ("any", rng.randrange(256)),
                                ("other proof's", rng.choice([x.methods for x in valids]))])
    else:
        kind, new = rng.choice([
            ("+1", old + 1), ("-1", old - 1), ("alias x+r", old + R), ("alias x+2r", old + 2 * R),
            ("alias x+k·r", old + R * rng.randrange(3, (U256 - old) // R)), ("r-1", R - 1), ("0", 0),
            ("2^256-1", U256 - 1), ("random field", rng.randrange(R)),
            ("other proof's", rng.choice([x.commitment for x in valids])),
        ])
    new %= U256
    if new == old:
        return mutate_arg(rng, v, valids, now_epoch)
    args[i] = new
    return f"{name}: {kind}", args


# ---------------------------------------------------------------- the campaign


@dataclass
class Case:
    family: str
    kind: str
    sender: str
    to: str
    data: str
    verifier: bool = False  # a view answering a bool (accepted = true), else a state-changing call


class Fuzzer:
    def __init__(self, setup: FuzzSetup, rng: random.Random) -> None:
        self.s, self.rng = setup, rng
        self.valids = setup.valids
        self.settled = [v for v in self.valids if v.settled]
        self.open = [v for v in self.valids if not v.settled]
        self.proof_pool = [w for v in self.valids for w in v.proof]
        self.original_calls = {(v.node.lower(), submit_data(v.args())) for v in self.valids}

    def _submit(self, family: str, kind: str, sender: str, args: list[int]) -> Case:
        return Case(family, kind, sender, self.s.green, submit_data(args))

    def _batch(self, family: str, kind: str, items: list[list[int]], length: int | None = None) -> Case:
        sender = self.rng.choice([self.s.outsider, *self.s.nodes])
        return Case(family, kind, sender, self.s.green, batch_data(items, length))

    def proof_word(self) -> Case:
        v = self.rng.choice(self.valids)
        args = v.args()
        kinds = []
        for _ in range(1 if self.rng.random() < 0.8 else 2):
            i = self.rng.randrange(8)
            kind, args[5 + i] = mutate_word(self.rng, args[5 + i], self.proof_pool)
            kinds.append(f"word {i} {kind}")
        return self._submit("proof word", ", ".join(kinds), v.node, args)

    def proof_points(self) -> Case:
        v = self.rng.choice(self.valids)
        kind, proof = mutate_points(self.rng, list(v.proof), [x.proof for x in self.valids if x is not v])
        return self._submit("proof point", kind, v.node, [*v.args()[:5], *proof])

    def public_arg(self) -> Case:
        v = self.rng.choice(self.valids)
        kind, args = mutate_arg(self.rng, v, self.valids, self.s.now_epoch)
        return self._submit("public argument", kind, v.node, args)

    def sender(self) -> Case:
        v = self.rng.choice(self.valids)
        kind, who = self.rng.choice([("another admitted node", self.rng.choice([n for n in self.s.nodes
                                                                                  if n != v.node])),
                                     ("outsider (relayer)", self.s.outsider), ("never admitted", self.s.stranger),
                                     ("beneficiary", self.s.beneficiary), ("zero address", "0x" + "00" * 20)])
        return self._submit("sender / node", kind, who, v.args())

    def cross(self) -> Case:
        v, w = self.rng.sample(self.valids, 2)
        return self._submit("cross proof", f"proof of {v.name} with args of {w.name}", w.node,
                            [*w.args()[:5], *v.proof])

    def rerandomised(self) -> Case:
        v = self.rng.choice(self.settled)
        kind, proof = self.rng.choice([("re-randomised", self.rng.choice(self.s.rerand[v.name])),
                                       ("(-A,-B,C)", negate_ab(v.proof))])
        args = [*v.args()[:5], *proof]
        if self.rng.random() < 0.3:
            mkind, margs = mutate_arg(self.rng, v, self.valids, self.s.now_epoch)
            args, kind = [*margs[:5], *proof], f"{kind} + {mkind}"
        sender = v.node if self.rng.random() < 0.8 else self.s.outsider
        return self._submit("re-randomised settled epoch", kind, sender, args)

    def batch_corrupt(self) -> Case:
        k = self.rng.randint(1, min(4, len(self.open)))
        chosen = self.rng.sample(self.open, k)
        items = [v.item() for v in chosen]
        j = self.rng.randrange(k)
        v = chosen[j]
        what = self.rng.choice(["word", "point", "arg", "node", "rerand settled", "settled", "cross"])
        if what == "word":
            i = self.rng.randrange(8)
            kind, items[j][6 + i] = mutate_word(self.rng, items[j][6 + i], self.proof_pool)
            kind = f"word {i} {kind}"
        elif what == "point":
            kind, proof = mutate_points(self.rng, list(v.proof), [x.proof for x in self.valids if x is not v])
            items[j][6:] = proof
        elif what == "arg":
            kind, args = mutate_arg(self.rng, v, self.valids, self.s.now_epoch)
            items[j][1:] = args
        elif what == "node":
            other = self.rng.choice([n for n in [*self.s.nodes, self.s.outsider, self.s.stranger] if n != v.node])
            items[j][0] = int(other, 16)
            kind = "node field swapped (credit redirect)"
        elif what == "settled":
            s = self.rng.choice(self.settled)
            items[j] = s.item()
            kind = f"settled item {s.name}"
        elif what == "rerand settled":
            s = self.rng.choice(self.settled)
            items[j] = [int(s.node, 16), *s.args()[:5], *self.rng.choice(self.s.rerand[s.name])]
            kind = f"re-randomised settled {s.name}"
        else:
            s = self.rng.choice([x for x in self.valids if x is not v])
            items[j][6:] = s.proof
            kind = f"proof of {s.name} in item of {v.name}"
        return self._batch("batch: one corrupted item", f"{k} items, item {j}: {kind}", items)

    def batch_structure(self) -> Case:
        k = self.rng.randint(2, min(4, len(self.open)))
        chosen = self.rng.sample(self.open, k)
        items = [v.item() for v in chosen]
        what = self.rng.choice(["duplicate", "permuted proofs", "empty", "length+1", "length 2^64", "all settled"])
        length = None
        if what == "duplicate":
            items.insert(self.rng.randrange(k + 1), list(items[self.rng.randrange(k)]))
        elif what == "permuted proofs":
            proofs = [it[6:] for it in items]
            proofs = proofs[1:] + proofs[:1]
            items = [it[:6] + p for it, p in zip(items, proofs, strict=True)]
        elif what == "empty":
            items = []
        elif what == "length+1":
            length = k + 1
        elif what == "length 2^64":  # (length − 1 would be a valid shorter batch plus ignored trailing bytes)
            length = 2**64
        else:
            items = [s.item() for s in self.rng.sample(self.settled, min(k, len(self.settled)))]
        return self._batch("batch: structure", what, items, length)

    def verifier_alias(self) -> Case:
        v = self.rng.choice(self.valids)
        inputs = list(v.inputs)
        i = self.rng.randrange(6)
        limit = (U256 - 1 - inputs[i]) // R
        k = self.rng.choice([1, 2, limit]) if limit >= 2 else 1
        inputs[i] += k * R
        return Case("verifier: input alias x + k·r", f"input {i} + {k}·r", self.s.outsider, self.s.verifier,
                    verify_data(list(v.proof), inputs), verifier=True)

    def verifier_word(self) -> Case:
        v = self.rng.choice(self.valids)
        proof, inputs = list(v.proof), list(v.inputs)
        if self.rng.random() < 0.5:
            i = self.rng.randrange(8)
            kind, proof[i] = mutate_word(self.rng, proof[i], self.proof_pool)
            kind = f"proof word {i} {kind}"
        else:
            i = self.rng.randrange(6)
            kind, inputs[i] = mutate_word(self.rng, inputs[i], [])
            kind = f"input {i} {kind}"
        if self.rng.random() < 0.5:
            return Case("verifier: verifyProof", kind, self.s.outsider, self.s.verifier,
                        verify_data(proof, inputs), verifier=True)
        others = self.rng.sample([x for x in self.valids if x is not v], self.rng.randint(0, 3))
        batch = [(list(x.proof), list(x.inputs)) for x in others]
        batch.insert(self.rng.randrange(len(batch) + 1), (proof, inputs))
        return Case("verifier: verifyBatch", f"{len(batch)} items, {kind}", self.s.outsider, self.s.verifier,
                    verify_batch_data([b[0] for b in batch], [b[1] for b in batch]), verifier=True)

    FAMILIES = (("proof_word", 20), ("proof_points", 8), ("public_arg", 20), ("sender", 5), ("cross", 5),
                ("rerandomised", 8), ("batch_corrupt", 18), ("batch_structure", 4), ("verifier_alias", 5),
                ("verifier_word", 7))

    def case(self) -> Case:
        names, weights = zip(*self.FAMILIES, strict=True)
        while True:
            c = getattr(self, self.rng.choices(names, weights)[0])()
            if (c.sender.lower(), c.data) not in self.original_calls:  # never count a valid original
                return c


@dataclass
class FuzzSetup:
    url: str
    green: str
    verifier: str
    nodes: list[str]
    outsider: str
    stranger: str
    beneficiary: str
    valids: list[Valid]
    rerand: dict[str, list[tuple[int, ...]]]
    control: list[tuple[Valid, tuple[int, ...]]]
    now_epoch: int
    errors: dict[str, str]
    deployment: Any


def build_setup(tmp: Path, anvil_url: str, rng: random.Random, rerand_per_settled: int = 6,
                log=print) -> FuzzSetup:
    """Deploy v2 on the anvil at `anvil_url`, admit three nodes, make ten real proofs, settle four of them by
    real transactions (two submits and one relayed submitBatch)."""
    from oracle.chain.deploy import admit_node, deploy_local
    from oracle.chain.governance import error_selectors
    from oracle.node.keys import dev_account
    from oracle.zk import Prover, random_salt
    from oracle.zk.artifacts import EFFICIENCY
    from oracle.zk.efficiency import Method, methods_code

    rpc = JsonRpc(anvil_url)
    t0 = time.monotonic()
    deployment = deploy_local(anvil_url, out=tmp / "deployments" / "local.json")
    a, b, c = (dev_account(i).address for i in (1, 4, 5))
    ben_a, ben_b = dev_account(2).address, dev_account(7).address
    outsider, stranger = dev_account(3).address, dev_account(6).address
    admit_node(deployment, anvil_url, a, ben_a, ENC_CLASS, REGION, "fuzz-a")
    admit_node(deployment, anvil_url, b, ben_b, ENC_CLASS, REGION, "fuzz-b")
    admit_node(deployment, anvil_url, c, ben_b, MLP_CLASS, REGION, "fuzz-c")
    log(f"  deployed and admitted 3 nodes in {time.monotonic() - t0:.1f} s")

    classes = deployment.params["classes"]
    enc_tiers, mlp_tiers = classes[ENC_CLASS]["tiers_uj_per_unit"], classes[MLP_CLASS]["tiers_uj_per_unit"]
    assert not classes[ENC_CLASS]["require_measured"] and classes[MLP_CLASS]["require_measured"]
    assert deployment.params["epoch_length_s"] == EPOCH_S
    e = (int(time.time()) + 86_400) // EPOCH_S  # a day ahead: the admissions precede every proven epoch
    replayed = methods_code(Method.REPLAYED, Method.REPLAYED)
    mixed = methods_code(Method.REPLAYED, Method.ESTIMATED)
    # (name, node, epoch, tier, methods, energy, work): ~10,000 µJ/item on the encoder class (every tier holds),
    # 100 µJ/item on the measured MLP class.
    plan = [("A:E", a, e, 0, replayed, ENC_CLASS), ("A:E+1", a, e + 1, 1, replayed, ENC_CLASS),
            ("B:E", b, e, 0, replayed, ENC_CLASS), ("B:E+1", b, e + 1, 2, mixed, ENC_CLASS),
            ("A:E+2", a, e + 2, 0, replayed, ENC_CLASS), ("A:E+3", a, e + 3, 3, mixed, ENC_CLASS),
            ("B:E+2", b, e + 2, 1, 0, ENC_CLASS), ("B:E+3", b, e + 3, 0, replayed, ENC_CLASS),
            ("C:E", c, e, 0, 0, MLP_CLASS), ("C:E+1", c, e + 1, 1, 0, MLP_CLASS)]
    valids = []
    t0 = time.monotonic()
    with Prover(circuit=EFFICIENCY) as prover:
        for name, node, epoch, tier, methods, cls in plan:
            if cls == ENC_CLASS:
                energy, work, tau = [100 + i for i in range(64)], [10 + i % 3 for i in range(64)], enc_tiers[tier]
            else:
                energy, work, tau = [1] * 64, [10 + i % 5 for i in range(64)], mlp_tiers[tier]
            bundle = prover.prove_efficiency(energy, work, random_salt(), tau, epoch, node, methods)
            data = bundle.calldata()
            valids.append(Valid(node=node, epoch=epoch, tier=tier, work=bundle.work_units_total, methods=methods,
                                commitment=bundle.commitment, proof=tuple(int(x) for x in data["proof"]),
                                name=name, inputs=tuple(int(x) for x in data["inputs"])))
    log(f"  10 real proofs in {time.monotonic() - t0:.1f} s")

    # The chain clock after every proven epoch's end (E .. E+3), well inside maxEpochAge.
    rpc.call("evm_setNextBlockTimestamp", [(e + 5) * EPOCH_S + 1])
    rpc.call("evm_mine", [])
    green = deployment.address("GreenProof")
    verifier = deployment.address("Groth16Verifier")
    by_name = {v.name: v for v in valids}
    for name in ("A:E", "A:E+1"):
        v = by_name[name]
        _mined_ok(rpc, {"from": v.node, "to": green, "data": submit_data(v.args()), "gas": hex(3_000_000)})
    _mined_ok(rpc, {"from": outsider, "to": green, "gas": hex(6_000_000),
                    "data": batch_data([by_name["B:E"].item(), by_name["B:E+1"].item()])})
    valids = [replace(v, settled=v.name in ("A:E", "A:E+1", "B:E", "B:E+1")) for v in valids]

    t0 = time.monotonic()
    delta = load_delta()
    rerand = {v.name: [rerandomise(v.proof, delta, rng) for _ in range(rerand_per_settled)]
              for v in valids if v.settled}
    control = [(v, rerandomise(v.proof, delta, rng)) for v in valids if not v.settled]
    log(f"  {sum(map(len, rerand.values())) + len(control)} re-randomised proofs in {time.monotonic() - t0:.1f} s")
    errors = {}
    for ref in deployment.contracts.values():
        errors.update(error_selectors(ref.abi))
    now_epoch = int(rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16) // EPOCH_S
    rpc.close()
    return FuzzSetup(anvil_url, green, verifier, [a, b, c], outsider, stranger, ben_a, valids, rerand, control,
                     now_epoch, errors, deployment)


def wait_receipts(rpc: JsonRpc, hashes: list[str], timeout: float = 60.0) -> list[dict | None]:
    """The receipts of `hashes` (anvil answers the hash before the block is sealed: poll briefly)."""
    deadline = time.monotonic() + timeout
    while True:
        answers = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        receipts = [a.get("result") for a in answers]
        if all(receipts) or time.monotonic() > deadline:
            return receipts
        time.sleep(0.05)


def _mined_ok(rpc: JsonRpc, tx: dict) -> dict:
    h = rpc.call("eth_sendTransaction", [tx])
    receipt = wait_receipts(rpc, [h])[0]
    if receipt is None or receipt["status"] != "0x1":
        raise AssertionError(f"a valid original was refused: {receipt}")
    return receipt


def _reason(answer: dict, errors: dict[str, str]) -> str:
    err = answer.get("error") or {}
    data = err.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        if data[:10] == "0x4e487b71":  # Panic(uint256)
            return f"Panic(0x{int(data[10:74] or '0', 16):02x})"
        return errors.get(data[:10], f"unknown {data[:10]}")
    if isinstance(data, str) and data in ("0x", ""):
        return "revert() (no data)"
    return f"rpc: {err.get('message', '?')[:60]}"


def run_fuzz(setup: FuzzSetup, count: int, tx_sample: int, rng: random.Random, budget_s: float = 600.0,
             chunk: int = 200, log=print) -> CampaignResult:
    rpc = JsonRpc(setup.url, timeout=120)
    fuzzer = Fuzzer(setup, rng)
    deadline = Deadline(budget_s)
    failures: list[str] = []
    by_family: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}
    tried = held = 0

    # Control group: the harness sees an acceptance when there is one (valid unsettled originals and valid
    # re-randomisations of them answer success; eth_call only, nothing mined).
    control_calls = [("eth_call", [{"from": v.node, "to": setup.green, "data": submit_data(v.args()),
                                    "gas": hex(3_000_000)}, "latest"]) for v in fuzzer.open]
    control_calls += [("eth_call", [{"from": v.node, "to": setup.green, "gas": hex(3_000_000),
                                     "data": submit_data([*v.args()[:5], *p])}, "latest"]) for v, p in setup.control]
    control_calls.append(("eth_call", [{"from": setup.outsider, "to": setup.green, "gas": hex(9_000_000),
                                        "data": batch_data([v.item() for v in fuzzer.open])}, "latest"]))
    control_ok = sum("error" not in a for a in rpc.batch(control_calls))

    t0 = time.monotonic()
    tx_cases: list[Case] = []
    while tried < count and not deadline.over():
        cases = [fuzzer.case() for _ in range(min(chunk, count - tried))]
        answers = rpc.batch([("eth_call", [{"from": c.sender, "to": c.to, "data": c.data,
                                            "gas": hex(9_000_000)}, "latest"]) for c in cases])
        for c, ans in zip(cases, answers, strict=True):
            tried += 1
            by_family[c.family] += 1
            if c.verifier:
                accepted = "error" not in ans and int(ans["result"], 16) == 1
                reasons_key = "verifier: false" if "error" not in ans else "verifier: " + _reason(ans, setup.errors)
            else:
                accepted = "error" not in ans
                reasons_key = _reason(ans, setup.errors) if not accepted else "ACCEPTED"
            reasons[reasons_key] += 1
            key = "ACCEPTED" if accepted else reasons_key
            examples.setdefault(key, f"{c.family}: {c.kind}")
            if accepted:
                failures.append(f"{c.family}: {c.kind} (from {c.sender}) ACCEPTED: {c.data[:80]}...")
            else:
                held += 1
            if not c.verifier and c.sender != "0x" + "00" * 20 and len(tx_cases) < tx_sample and rng.random() < 0.1:
                tx_cases.append(c)
    call_s = time.monotonic() - t0

    # A sample as real transactions (mined; anvil dev accounts are unlocked).
    t0 = time.monotonic()
    tx_held = 0
    hashes = rpc.batch([("eth_sendTransaction", [{"from": c.sender, "to": c.to, "data": c.data,
                                                  "gas": hex(9_000_000)}]) for c in tx_cases])
    sent_hashes = [h["result"] for h in hashes if "result" in h]
    receipts = wait_receipts(rpc, sent_hashes, timeout=30)
    tx_held += sum(1 for h in hashes if "error" in h)  # refused before mining: not accepted either
    never_mined = [h for h, r in zip(sent_hashes, receipts, strict=True) if r is None]
    for r in receipts:
        if r is not None and r["status"] == "0x0":
            tx_held += 1
        elif r is not None:
            failures.append(f"transaction {r['transactionHash']} mined with status 1")
    tx_s = time.monotonic() - t0

    # The chain after it all: exactly the four settled originals have EpochProved, the six others are open.
    w3_green = _green(setup)
    proved = [(ev["args"]["node"], ev["args"]["epoch"]) for ev in
              w3_green.events.EpochProved.get_logs(from_block=0)]
    expected = sorted((v.node, v.epoch) for v in setup.valids if v.settled)
    if sorted(proved) != expected:
        failures.append(f"EpochProved events {sorted(proved)} != the settled originals {expected}")
    still_open = [v.name for v in fuzzer.open if not w3_green.functions.isAccepted(v.node, v.epoch).call()]
    if len(still_open) != len(fuzzer.open):
        failures.append(f"an unsettled original became accepted during the fuzz: {still_open}")
    # Finally the six open originals settle in one relayed batch: accepted exactly once each.
    _mined_ok(rpc, {"from": setup.outsider, "to": setup.green, "gas": hex(9_000_000),
                    "data": batch_data([v.item() for v in fuzzer.open])})
    total = len(w3_green.events.EpochProved.get_logs(from_block=0))
    # A mutated transaction still in the pool (not mined) is not accepted; any mined since must have failed.
    late = wait_receipts(rpc, never_mined, timeout=5) if never_mined else []
    for r in late:
        if r is not None and r["status"] != "0x0":
            failures.append(f"transaction {r['transactionHash']} mined later with status 1")
    tx_held += len(never_mined)
    rpc.close()

    result = CampaignResult(
        "fuzzed submissions", tried + len(tx_cases), held + tx_held,
        figures={
            "eth_call_mutations": tried, "eth_call_refused": held, "real_tx_mutations": len(tx_cases),
            "real_tx_refused": tx_held, "real_tx_never_mined": len(never_mined), "accepted_beyond_valid_originals": (tried - held) + (len(tx_cases) - tx_held),
            "valid_originals": len(setup.valids), "valid_originals_accepted_on_chain": total,
            "control_valid_calls_answered_success": f"{control_ok}/{len(control_calls)}",
            "calls_per_s": round(tried / call_s, 1) if call_s else None, "eth_call_s": round(call_s, 1),
            "tx_s": round(tx_s, 1), "by_family": dict(by_family.most_common()),
            "revert_reasons": dict(reasons.most_common()), "example_per_reason": examples,
        },
        failures=failures)
    if control_ok != len(control_calls):
        result.failures.append(f"control group: only {control_ok}/{len(control_calls)} valid calls succeeded "
                               "(the harness could not see an acceptance)")
    if total != len(setup.valids):
        result.failures.append(f"valid originals accepted on chain: {total}, expected {len(setup.valids)}")
    return result


def _green(setup: FuzzSetup) -> Any:
    from web3 import Web3

    return setup.deployment.green_proof(Web3(Web3.HTTPProvider(setup.url)))


def campaign(tmp: Path, count: int = 10_000, tx_sample: int = 200, seed: int | None = None,
             budget_s: float = 900.0, also=None, log=print) -> CampaignResult:
    """`also(setup)`, when given, runs on the same chain after the fuzz (e.g. the HTTP campaign against a web
    app that indexes it)."""
    from oracle.chain.anvil import Anvil

    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    tmp.mkdir(parents=True, exist_ok=True)
    with Anvil(log_file=tmp / "anvil.log") as anvil:
        setup = build_setup(tmp, anvil.url, rng, log=log)
        result = run_fuzz(setup, count, tx_sample, rng, budget_s=budget_s, log=log)
        if also is not None:
            also(setup)
    result.figures["seed"] = seed
    return result
