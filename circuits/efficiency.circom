pragma circom 2.1.0;

// EcoAI green proof v2 ("efficiency"): the energy a node committed to for one epoch, per unit of useful work it
// committed to, stayed at or below an efficiency tier: 1000 * sum(energy_mj) <= tier_uJ_per_unit * sum(work).
// circuits/README.md ("v2: efficiency") states what the proof shows, what it cannot, the bounds and the commitment.

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";

// Readings packed PACK to a field element (little-endian, VALUE_BITS each): injective as PACK*VALUE_BITS <= 253.
template PackedHash(N, PACK, VALUE_BITS) {
    var K = (N + PACK - 1) \ PACK;
    assert(PACK * VALUE_BITS <= 253);
    assert(K <= 16);  // circomlib Poseidon takes at most 16 inputs
    signal input values[N];
    signal output out;
    component h = Poseidon(K);
    for (var j = 0; j < K; j++) {
        var word = 0;
        for (var i = 0; i < PACK && PACK * j + i < N; i++) {
            word += values[PACK * j + i] * (1 << (VALUE_BITS * i));
        }
        h.inputs[j] <== word;
    }
    out <== h.out;
}

// N intervals; energy (mJ) and work units per interval < 2^VALUE_BITS; tier < 2^TIER_BITS (uJ per work unit);
// slack = tier * W - 1000 * sum(energy) decomposed into SLACK_BITS bits.
template Efficiency(N, PACK, VALUE_BITS, TIER_BITS, SLACK_BITS) {
    // sum(energy) < N * 2^VALUE_BITS <= 2^(VALUE_BITS + 7) and W < 2^(VALUE_BITS + 7), so
    // 1000 * sum(energy) < 2^(VALUE_BITS + 17) and tier * W < 2^(TIER_BITS + VALUE_BITS + 7) <= 2^SLACK_BITS;
    // everything stays far below the field size (~2^253.6): nothing below can wrap.
    assert(N <= 128);
    assert(TIER_BITS + VALUE_BITS + 7 <= SLACK_BITS && VALUE_BITS + 17 <= SLACK_BITS && SLACK_BITS <= 128);

    // Public, in this order (snarkjs lists public inputs in declaration order).
    signal input efficiency_uj_per_unit;
    signal input work_units_total;
    signal input epoch;
    signal input node;
    signal input methods;
    signal input commitment;

    // Private.
    signal input energy_mj[N];
    signal input work_units[N];
    signal input salt;

    // Range checks: each energy and work value < 2^VALUE_BITS, tier < 2^TIER_BITS, methods < 2^8.
    component energyBits[N];
    component workBits[N];
    for (var i = 0; i < N; i++) {
        energyBits[i] = Num2Bits(VALUE_BITS);
        energyBits[i].in <== energy_mj[i];
        workBits[i] = Num2Bits(VALUE_BITS);
        workBits[i].in <== work_units[i];
    }
    component tierBits = Num2Bits(TIER_BITS);
    tierBits.in <== efficiency_uj_per_unit;
    component methodBits = Num2Bits(8);
    methodBits.in <== methods;

    // W is the total of the committed work units.
    var energy = 0;
    var work = 0;
    for (var i = 0; i < N; i++) {
        energy += energy_mj[i];
        work += work_units[i];
    }
    work_units_total === work;

    // 1000 * sum(energy) <= tier * W  <=>  slack = tier * W - 1000 * sum(energy) in [0, 2^SLACK_BITS).
    // If the energy is over, slack wraps to p - (1000 * sum(energy) - tier * W) >= p - 2^(VALUE_BITS + 17),
    // far above 2^SLACK_BITS, so no SLACK_BITS-bit decomposition exists.
    signal budget;
    budget <== efficiency_uj_per_unit * work_units_total;
    component slackBits = Num2Bits(SLACK_BITS);
    slackBits.in <== budget - 1000 * energy;

    // Commitment: c0 = P(salt, node, epoch); he = P(energy words); hw = P(work words); commitment = P(c0, he, hw).
    component head = Poseidon(3);
    head.inputs[0] <== salt;
    head.inputs[1] <== node;
    head.inputs[2] <== epoch;
    component he = PackedHash(N, PACK, VALUE_BITS);
    he.values <== energy_mj;
    component hw = PackedHash(N, PACK, VALUE_BITS);
    hw.values <== work_units;
    component link = Poseidon(3);
    link.inputs[0] <== head.out;
    link.inputs[1] <== he.out;
    link.inputs[2] <== hw.out;
    commitment === link.out;
}

component main {public [efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment]} =
    Efficiency(64, 7, 32, 32, 72);
