// EcoAI prover worker: one long-lived Node process so that no proof pays Node start-up, wasm compilation,
// key loading or curve set-up. oracle.zk.Prover owns it (restarts it if it dies) and talks JSON lines:
//   argv: WASM ZKEY VERIFICATION_KEY_JSON
//   stdout first line: {"ready": true}
//   stdin  {"id": n, "input": {...circuit input, decimal strings...}}
//   stdout {"id": n, "proof": {...}, "publicSignals": [...], "verified": bool}  or  {"id": n, "error": "..."}
// The witness generator, the proving key and the bn128 curve (with its worker threads) stay in memory; the
// prover checks its own proof with snarkjs before answering.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import * as snarkjs from "snarkjs";
import { WitnessCalculatorBuilder } from "circom_runtime";

const [wasmPath, zkeyPath, vkPath] = process.argv.slice(2);
if (!vkPath) {
    process.stderr.write("usage: prover_worker.mjs WASM ZKEY VERIFICATION_KEY_JSON\n");
    process.exit(2);
}

// snarkjs logs to stdout through console.log in places; keep stdout for the protocol only.
const send = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
console.log = (...args) => process.stderr.write(args.join(" ") + "\n");

const zkey = new Uint8Array(readFileSync(zkeyPath));
const vk = JSON.parse(readFileSync(vkPath, "utf8"));
const wasm = readFileSync(wasmPath);
let witnessCalculator = await WitnessCalculatorBuilder(wasm);

function toBigInts(input) {
    const out = {};
    for (const [key, value] of Object.entries(input)) {
        out[key] = Array.isArray(value) ? value.map((v) => BigInt(v)) : BigInt(value);
    }
    return out;
}

async function prove(input) {
    let wtns;
    try {
        wtns = await witnessCalculator.calculateWTNSBin(toBigInts(input), true);
    } catch (err) {
        // A failed constraint traps inside the wasm instance, and circom_runtime keeps appending to one
        // error string per instance: start a fresh instance so the next witness and message are clean.
        witnessCalculator = await WitnessCalculatorBuilder(wasm);
        throw err;
    }
    const { proof, publicSignals } = await snarkjs.groth16.prove(
        { type: "mem", data: zkey }, { type: "mem", data: wtns });
    const verified = await snarkjs.groth16.verify(vk, publicSignals, proof);
    return { proof, publicSignals, verified };
}

// Warm up the curve (threads, tables) before saying ready, so the first real proof is as fast as the rest.
await snarkjs.curves.getCurveFromName("bn128");
send({ ready: true });

// One request at a time: the curve's threads are the parallelism.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
    if (!line.trim()) return;
    queue = queue.then(async () => {
        let request;
        try {
            request = JSON.parse(line);
            send({ id: request.id, ...(await prove(request.input)) });
        } catch (err) {
            // circom's witness calculator reports a failed `===` or range check as an assert error.
            send({ id: request?.id ?? null, error: String(err?.message ?? err).split("\n")[0] });
        }
    });
});
lines.on("close", async () => {
    await queue;
    const curve = globalThis.curve_bn128;
    if (curve) await curve.terminate();
    process.exit(0);
});
