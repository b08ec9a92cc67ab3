"""Fault campaign 2: random kill -9 of a real oracle node (5-s epochs on anvil), restarted each time.

Each run starts `ecoai oracle run` and kills its whole process group with SIGKILL either at a random moment
(random delay: sampling, closing, proving, signing, sending, waiting for the receipt) or at one of the node's
named fault points (ECOAI_FAULT = sampling, proving, after_send: the node SIGKILLs itself there). After every
kill: the readings stored before it are all still there, both SQLite files pass integrity_check. At the end one
clean run drains the queue, then: readings lost (0), epochs with more than one mined transaction (0), every
epoch the node records as accepted has exactly one EpochProved with the node's own commitment, and every
EpochProved epoch is recorded as accepted."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

from faultlib import CampaignResult, Deadline
from nodestack import NodeStack

NAMED = ("sampling", "proving", "after_send")
PHASES = (("submitted", "after broadcast"), ("proved", "signing/sending"), ("closed", "proving"),
          ("open", "sampling"), ("measuring energy", "starting"))


def _phase(log_tail: str) -> str:
    """The step the node was in at the kill, from its last log line."""
    lines = [ln for ln in log_tail.splitlines() if "ecoai" in ln]
    if not lines:
        return "starting"
    last = lines[-1]
    if "fault injection" in last:
        return "named: " + last.rsplit(" ", 1)[-1]
    if "accepted on chain" in last:
        return "after receipt"
    for key, phase in PHASES:
        if key in last:
            return phase
    return "other"


def campaign(tmp: Path, runs: int = 50, budget_s: float = 900.0, seed: int | None = None, max_delay_s: float = 14.0,
             named_share: float = 0.35, log=print) -> CampaignResult:
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    deadline = Deadline(budget_s)
    failures: list[str] = []
    phases: Counter[str] = Counter()
    lost_total = 0
    done = 0
    with NodeStack(tmp) as stack:
        config = stack.write_config(stack.anvil.url)
        durable: set[int] = set()
        t0 = time.monotonic()
        while done < runs and deadline.left() > 60:
            log_before = len(stack.log_text())
            named = done < len(NAMED) or rng.random() < named_share  # each named point once first, then a mix
            if named:
                fault = NAMED[done] if done < len(NAMED) else rng.choice(NAMED)
                proc = stack.start(config, fault=fault)
                if proc.poll() is None:
                    try:
                        proc.wait(timeout=60)
                    except Exception:  # noqa: BLE001 - the point was not reached in time: kill it anyway
                        pass
            else:
                proc = stack.start(config)
                time.sleep(rng.uniform(0.5, max_delay_s))
            stack.kill(proc)
            done += 1
            phases[_phase(stack.log_text()[log_before:])] += 1
            now = stack.reading_ids()
            lost = durable - now
            if lost:
                lost_total += len(lost)
                failures.append(f"run {done}: {len(lost)} reading(s) stored before the kill are gone")
            durable |= now
            bad = stack.integrity()
            if bad:
                failures.append(f"run {done}: integrity_check: {bad}")
            if done % 10 == 0:
                log(f"  kill -9 run {done}/{runs} ({time.monotonic() - t0:.0f} s)")

        # One clean run drains what the kills left in the queue (and measures two more epochs).
        proc = stack.start(config, epochs=2)
        try:
            proc.wait(timeout=max(60.0, min(240.0, deadline.left() + 120)))
            clean_rc = proc.returncode
        except Exception:  # noqa: BLE001
            clean_rc = None
            failures.append("the final clean run did not finish within its time")
        stack.kill(proc)
        now = stack.reading_ids()
        if durable - now:
            lost_total += len(durable - now)
            failures.append(f"after the clean run: {len(durable - now)} reading(s) gone")
        rows = stack.rows()
        view = stack.chain_view()
        text = stack.log_text()

    statuses = Counter(r["status"] for r in rows.values())
    accepted_db = {e for e, r in rows.items() if r["status"] == "accepted"}
    proved_chain = view["proved"]
    double_events = [e for e, evs in proved_chain.items() if len(evs) != 1]
    double_tx = {e: t for e, t in view["txs"].items() if len(t) > 1}
    if double_events:
        failures.append(f"epochs with more than one EpochProved: {double_events}")
    if double_tx:
        failures.append(f"epochs with more than one mined transaction: {double_tx}")
    if accepted_db != set(proved_chain):
        failures.append(f"accepted in the node's store but not on chain: {sorted(accepted_db - set(proved_chain))}; "
                        f"on chain but not recorded accepted: {sorted(set(proved_chain) - accepted_db)}")
    wrong_commitment = [e for e, evs in proved_chain.items() if e in rows and rows[e]["commitment"] is not None
                        and int(rows[e]["commitment"]) != int(evs[0]["args"]["commitment"])]
    if wrong_commitment:
        failures.append(f"on-chain commitment differs from the node's: {wrong_commitment}")
    pending = sorted(e for e, r in rows.items() if r["status"] in ("proving", "proved", "sending", "handed_over"))
    if pending:
        failures.append(f"still pending after the clean run: {pending} ({[rows[e]['status'] for e in pending]})")
    tracebacks = len(re.findall(r"^Traceback", text, re.M))
    if tracebacks:
        failures.append(f"{tracebacks} Traceback(s) in the node's log")
    if clean_rc not in (0, None):
        failures.append(f"the clean run exited {clean_rc}")
    held = done - sum(1 for f in failures if f.startswith("run "))
    if any(not f.startswith("run ") for f in failures):
        held = min(held, done - 1)  # a global invariant broke: the campaign does not hold
    return CampaignResult("random kill -9 of the node", done, max(held, 0), figures={
        "runs": done, "kill_moments": dict(phases.most_common()), "readings_stored": len(durable),
        "readings_lost": lost_total, "epochs_recorded": len(rows), "epoch_statuses": dict(statuses),
        "epochs_accepted_on_chain": len(proved_chain), "epochs_accepted_exactly_once": sum(
            1 for evs in proved_chain.values() if len(evs) == 1),
        "epochs_double_submitted": len(double_tx), "transactions_mined": sum(len(t) for t in view["txs"].values()),
        "nonce_final": view["nonce"], "seed": seed,
        "already_accepted_recoveries": text.count("already accepted on chain")}, failures=failures)
