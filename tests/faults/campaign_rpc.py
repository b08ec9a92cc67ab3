"""Fault campaign 3: the node's RPC endpoint drops, delays, answers errors and garbage, and lies (absurd fees
and gas estimates, forged receipts for swallowed transactions, receipts that say "reverted", a stale head).

A real node (`ecoai oracle run`, 5-s epochs) talks to anvil only through tests/faults/faulty_rpc.py. Rounds of
fault windows, each followed by a healthy window. Checks:
- safe: every transaction that reached the endpoint is within the configured caps ([submit]
  max_fee_per_gas_gwei, max_priority_fee_gwei, max_gas_per_submit × items), decoded from the raw bytes;
- keeps its data: the node process stays up through every window, no stored reading disappears, its SQLite
  files pass integrity_check, nothing it records as accepted is missing on chain at the end;
- recovers: after the last heal, every epoch the node proved is accepted on chain within a time bound, each
  exactly once."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

from faultlib import CampaignResult, Deadline
from faulty_rpc import FaultyRpc
from nodestack import NodeStack, wait_until

FAULT_MODES = ("drop", "delay", "errors", "absurd_fees", "absurd_gas", "forged_receipt", "reverted_receipt",
               "stale_head")
# The caps the campaign configures (the local defaults, written out so the check does not depend on them).
MAX_FEE_GWEI, MAX_TIP_GWEI, MAX_GAS = 50.0, 5.0, 1_500_000


def _check_sent(sent: list[dict], failures: list[str]) -> float:
    worst = 0.0
    for tx in sent:
        if "error" in tx:
            failures.append(f"an undecodable raw transaction was sent: {tx}")
            continue
        worst = max(worst, tx["max_fee"] / 1e9)
        if tx["max_fee"] > MAX_FEE_GWEI * 1e9 or tx["tip"] > MAX_TIP_GWEI * 1e9:
            failures.append(f"sent above the fee caps during {tx['mode']}: {tx}")
        if tx["gas"] > MAX_GAS * 16:  # a batch may scale the per-submit cap by its items (batch_size ≤ 16 here)
            failures.append(f"sent above the gas cap during {tx['mode']}: {tx}")
    return worst


def campaign(tmp: Path, rounds: int = 3, window_s: float = 10.0, heal_s: float = 8.0, budget_s: float = 900.0,
             seed: int | None = None, modes: tuple[str, ...] = FAULT_MODES, log=print) -> CampaignResult:
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    deadline = Deadline(budget_s)
    failures: list[str] = []
    windows: Counter[str] = Counter()
    tried = held = 0
    with NodeStack(tmp) as stack, FaultyRpc(stack.anvil.url, seed) as rpc:
        config = stack.write_config(rpc.url, max_fee_per_gas_gwei=MAX_FEE_GWEI, max_priority_fee_gwei=MAX_TIP_GWEI,
                                    max_gas_per_submit=MAX_GAS)
        proc = stack.start(config)
        first = wait_until(lambda: [e for e, r in stack.rows().items() if r["status"] == "accepted"], 120, 0.5)
        if not first:
            failures.append("no epoch accepted through the healthy endpoint within 120 s")
        durable = stack.reading_ids()
        for n in range(rounds):
            order = list(modes)
            rng.shuffle(order)
            for mode in order:
                if deadline.left() < window_s + heal_s + 90:
                    break
                before = len(failures)
                rpc.mode = mode
                time.sleep(window_s)
                rpc.mode = "healthy"
                time.sleep(heal_s)
                tried += 1
                windows[mode] += 1
                if proc.poll() is not None:
                    failures.append(f"the node exited ({proc.returncode}) during or after the {mode} window")
                    proc = stack.start(config)  # keep going, but it is a failure
                now = stack.reading_ids()
                if durable - now:
                    failures.append(f"{mode}: {len(durable - now)} stored reading(s) disappeared")
                durable |= now
                bad = stack.integrity()
                if bad:
                    failures.append(f"{mode}: integrity_check {bad}")
                _check_sent(rpc.sent, failures)
                if len(failures) == before:
                    held += 1
            log(f"  rpc faults round {n + 1}/{rounds}: {dict(windows)}")

        # Healed for good: every epoch the node closed and proved gets accepted, within a bound.
        def settled() -> bool:
            rows = stack.rows()
            return bool(rows) and not any(r["status"] in ("proving", "proved", "sending") for r in rows.values()
                                          if r["epoch"] < max(rows) - 2)
        healed_in = time.monotonic()
        ok = wait_until(settled, 120, 0.5)
        healed_in = time.monotonic() - healed_in
        if not ok:
            failures.append("the queue did not drain within 120 s of the final heal: "
                            f"{ {e: r['status'] for e, r in stack.rows().items() if r['status'] not in ('accepted',)} }")
        alive = proc.poll() is None
        stack.kill(proc)
        rows = stack.rows()
        view = stack.chain_view()
        text = stack.log_text()
        worst = _check_sent(rpc.sent, [])  # already reported per window
        sent = list(rpc.sent)
        faults = dict(rpc.faults)

    accepted_db = {e for e, r in rows.items() if r["status"] == "accepted"}
    proved = view["proved"]
    if accepted_db - set(proved):
        failures.append(f"recorded accepted but not on chain (believed a lie): {sorted(accepted_db - set(proved))}")
    # The node is killed while running, so its newest epoch may be mined but still awaiting confirmations: that is
    # in flight, not lost, when the node stored the very transaction that carried it (a restart confirms it; the
    # kill campaign checks that). Anything else on chain but not accepted in the node's records is a failure.
    newest = max(rows) if rows else 0
    in_flight = {e for e in set(proved) - accepted_db
                 if e >= newest - 2 and rows.get(e, {}).get("status") == "sending"
                 and (rows[e].get("tx_hash") or "").lower() in {h.lower() for h, _ in view["txs"].get(e, [])}}
    if set(proved) - accepted_db - in_flight:
        failures.append("on chain but not recorded accepted at the end: "
                        f"{sorted(set(proved) - accepted_db - in_flight)}")
    doubles = {e: t for e, t in view["txs"].items() if len(t) > 1}
    if any(len(v) != 1 for v in proved.values()):
        failures.append("an epoch has more than one EpochProved")
    if not alive:
        failures.append("the node was not running at the end")
    tracebacks = len(re.findall(r"^Traceback", text, re.M))
    if tracebacks:
        failures.append(f"{tracebacks} Traceback(s) in the node's log")
    if len(failures) and held == tried:
        held = max(0, tried - 1)  # an end-of-campaign invariant broke
    statuses = Counter(r["status"] for r in rows.values())
    return CampaignResult("RPC faults (drop, delay, errors, lies)", tried, held, figures={
        "fault_windows": dict(windows), "faulty_answers_injected": faults, "transactions_sent": len(sent), "distinct_signed_transactions": len({t.get("raw_hash") for t in sent}),
        "transactions_sent_during_faults": sum(1 for t in sent if t.get("mode") != "healthy"),
        "max_fee_per_gas_sent_gwei": round(worst, 3), "caps_gwei": [MAX_FEE_GWEI, MAX_TIP_GWEI],
        "epochs_recorded": len(rows), "epoch_statuses": dict(statuses), "epochs_accepted_on_chain": len(proved),
        "epochs_with_more_than_one_mined_tx": len(doubles), "mined_awaiting_confirmation_at_stop": len(in_flight), "drained_after_final_heal_s": round(healed_in, 1),
        "fee_cap_alerts_logged": text.count("exceeds submit."), "rpc_unavailable_lines": text.count("RPC unavailable"),
        "seed": seed}, failures=failures)
