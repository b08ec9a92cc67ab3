// Reference values from circomlibjs for tests/zk/test_poseidon.py, computed independently of oracle.zk.
// stdin: {"hashes": [[x, ...], ...], "commitments": [{"readings": [...], "salt": s, "node": n, "epoch": e}]}
// stdout: {"hashes": [...], "commitments": [...]} as decimal strings.
// The commitment is circuits/README.md's: c0 = P(salt, node, epoch);
// word_j = sum_i r[7j+i] * 2^(32 i) (j = 0..9); commitment = P(c0, word_0, ..., word_9).
import { readFileSync } from "node:fs";
import { buildPoseidon } from "circomlibjs";

const request = JSON.parse(readFileSync(0, "utf8"));
const poseidon = await buildPoseidon();
const F = poseidon.F;
const hash = (xs) => poseidon(xs.map((x) => BigInt(x)));

const hashes = request.hashes.map((xs) => F.toString(hash(xs)));
const commitments = request.commitments.map(({ readings, salt, node, epoch }) => {
    const words = [];
    for (let k = 0; k < readings.length; k += 7) {
        words.push(readings.slice(k, k + 7).reduce((acc, r, i) => acc + (BigInt(r) << BigInt(32 * i)), 0n));
    }
    return F.toString(poseidon([hash([salt, node, epoch]), ...words]));
});
process.stdout.write(JSON.stringify({ hashes, commitments }) + "\n");
process.exit(0);
