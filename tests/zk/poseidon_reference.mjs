// Reference values from circomlibjs for tests/zk/test_poseidon.py, computed independently of oracle.zk.
// stdin: {"hashes": [[x, ...], ...], "commitments": [{"energy": [...], "work": [...], "salt": s, "node": n, "epoch": e}]}
// stdout: {"hashes": [...], "commitments": [...]} as decimal strings.
// The commitment is circuits/README.md's: c0 = P(salt, node, epoch); word_j = sum_i v[7j+i] * 2^(32 i)
// (j = 0..9) for the energy and the work values; commitment = P(c0, P(energy words), P(work words)).
import { readFileSync } from "node:fs";
import { buildPoseidon } from "circomlibjs";

const request = JSON.parse(readFileSync(0, "utf8"));
const poseidon = await buildPoseidon();
const F = poseidon.F;
const hash = (xs) => poseidon(xs.map((x) => BigInt(x)));
const words = (values) => {
    const out = [];
    for (let k = 0; k < values.length; k += 7) {
        out.push(values.slice(k, k + 7).reduce((acc, v, i) => acc + (BigInt(v) << BigInt(32 * i)), 0n));
    }
    return out;
};

const hashes = request.hashes.map((xs) => F.toString(hash(xs)));
const commitments = request.commitments.map(({ energy, work, salt, node, epoch }) =>
    F.toString(poseidon([hash([salt, node, epoch]), poseidon(words(energy)), poseidon(words(work))])));
process.stdout.write(JSON.stringify({ hashes, commitments }) + "\n");
process.exit(0);
