pragma circom 2.1.0;

// EcoAI green proof: the energy readings committed to for one epoch sum to at most the threshold.
// circuits/README.md states exactly what the proof shows, what it cannot, and the commitment chain.

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";

// N readings (mJ per interval) of READING_BITS each, packed PACK to a field element for the commitment.
template EnergyBudget(N, PACK, READING_BITS, THRESHOLD_BITS) {
    var K = (N + PACK - 1) \ PACK;  // packed words
    // Packing is injective only if PACK readings fit below the field size (2^253 < p).
    assert(PACK * READING_BITS <= 253);
    // circomlib Poseidon takes at most 16 inputs: the second link hashes c0 and the K words.
    assert(K + 1 <= 16);
    // The sum of N readings must stay below 2^THRESHOLD_BITS, far below the field size,
    // so that neither the sum nor threshold - sum can wrap around the field.
    assert(N <= 128 && READING_BITS + 7 <= THRESHOLD_BITS && THRESHOLD_BITS <= 128);

    // Public, in this order: snarkjs lists public inputs in declaration order.
    signal input threshold_mj;
    signal input epoch;
    signal input node;
    signal input commitment;

    // Private.
    signal input readings_mj[N];
    signal input salt;

    // Each reading < 2^READING_BITS.
    component readingBits[N];
    for (var i = 0; i < N; i++) {
        readingBits[i] = Num2Bits(READING_BITS);
        readingBits[i].in <== readings_mj[i];
    }

    // threshold < 2^THRESHOLD_BITS.
    component thresholdBits = Num2Bits(THRESHOLD_BITS);
    thresholdBits.in <== threshold_mj;

    // sum <= threshold  <=>  threshold - sum in [0, 2^THRESHOLD_BITS). With sum < N * 2^READING_BITS
    // and threshold < 2^THRESHOLD_BITS, a sum above the threshold makes threshold - sum wrap to
    // p - (sum - threshold) > 2^THRESHOLD_BITS, which has no THRESHOLD_BITS-bit decomposition.
    var sum = 0;
    for (var i = 0; i < N; i++) {
        sum += readings_mj[i];
    }
    component slackBits = Num2Bits(THRESHOLD_BITS);
    slackBits.in <== threshold_mj - sum;

    // Commitment chain (circuits/README.md): c0 = Poseidon(salt, node, epoch);
    // word[j] = sum_i readings[PACK*j + i] * 2^(READING_BITS*i); commitment = Poseidon(c0, word[0..K-1]).
    component head = Poseidon(3);
    head.inputs[0] <== salt;
    head.inputs[1] <== node;
    head.inputs[2] <== epoch;

    component link = Poseidon(K + 1);
    link.inputs[0] <== head.out;
    for (var j = 0; j < K; j++) {
        var word = 0;
        for (var i = 0; i < PACK && PACK * j + i < N; i++) {
            word += readings_mj[PACK * j + i] * (1 << (READING_BITS * i));
        }
        link.inputs[j + 1] <== word;
    }
    commitment === link.out;
}

component main {public [threshold_mj, epoch, node, commitment]} = EnergyBudget(64, 7, 32, 64);
