"""The fault campaign of issue 14 at full size; prints each campaign's figures (JSON) and one summary table
(campaign | tried | held) that the README's reliability section quotes.

    .venv/bin/python bench/faults.py                 # every campaign, full size (~15-25 min on 2 busy cores)
    .venv/bin/python bench/faults.py fuzz http       # some of them
    .venv/bin/python bench/faults.py --quick         # the short sizes the tests use

Campaigns (their code: tests/faults/campaign_*.py; the short versions run in tests/faults/):
- fuzz: ≥ 10,000 mutated submissions (proof words and points, public arguments, senders, field aliases x + r,
  re-randomised proofs of accepted epochs, corrupted submitBatch items) against the v2 contracts on anvil, as
  eth_call plus a sample of real transactions; accepted beyond the valid originals must be 0.
- kill: ≥ 50 runs of a real node (5-s epochs) killed with SIGKILL at a random moment or a named fault point,
  restarted each time; readings lost 0, epochs double-submitted 0, every accepted epoch accepted exactly once.
- rpc: the node behind an endpoint that drops, delays, errors and lies; nothing above the fee caps is ever sent,
  the node keeps its data and drains its queue once the endpoint heals.
- http: hostile input to every route of the web app under a real uvicorn (against a real chain after the fuzz
  when both run; else a seeded index): no 5xx, no unescaped reflection.
Exit status 1 when any campaign does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "faults"))
sys.path.insert(0, str(REPO_ROOT))
os.environ["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}" \
                     f"{os.environ.get('PATH', '')}"
os.environ.setdefault("SOLCX_BINARY_PATH", str(REPO_ROOT / ".venv" / "solcx"))

FULL = {"fuzz": {"count": 10_000, "tx_sample": 200}, "kill": {"runs": 50, "budget_s": 1200.0},
        "rpc": {"rounds": 3}, "http": {"max_requests": 6_000}}
QUICK = {"fuzz": {"count": 1_000, "tx_sample": 30}, "kill": {"runs": 3, "budget_s": 300.0},
         "rpc": {"rounds": 1, "window_s": 6.0, "heal_s": 6.0}, "http": {"max_requests": 600}}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaigns", nargs="*", metavar="{fuzz,http,kill,rpc}", help="default: all four")
    parser.add_argument("--quick", action="store_true", help="the short sizes (as in tests/faults)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write every result to this file")
    args = parser.parse_args()
    chosen = args.campaigns or ["fuzz", "http", "kill", "rpc"]
    unknown = set(chosen) - {"fuzz", "http", "kill", "rpc"}
    if unknown:
        parser.error(f"unknown campaign(s): {sorted(unknown)}")
    sizes = QUICK if args.quick else FULL
    label = "quick" if args.quick else "full"

    import campaign_fuzz
    import campaign_http
    import campaign_kill
    import campaign_rpc
    from faultlib import summary_table

    results = []
    with tempfile.TemporaryDirectory(prefix="ecoai-faults-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["ECOAI_HOME"] = str(tmp / "home")
        http_result = []
        for name in chosen:
            t0 = time.monotonic()
            log(f"== {name} ({label})")
            if name == "fuzz":
                def http_on_chain(setup) -> None:
                    if "http" not in chosen:
                        return
                    from web.app import create_app

                    log("== http (on the fuzzed chain, indexed by the web app)")
                    app = create_app(tmp / "web-index.sqlite", setup.deployment, setup.url, follow=True,
                                     confirmations=0, poll_interval=0.2)
                    t1 = time.monotonic()
                    r = campaign_http.campaign(tmp / "http", app=app, seed=args.seed, log=log, **sizes["http"])
                    r.size, r.figures["wall_s"] = label, round(time.monotonic() - t1, 1)
                    http_result.append(r)
                r = campaign_fuzz.campaign(tmp / "fuzz", seed=args.seed, also=http_on_chain, log=log,
                                           **sizes["fuzz"])
            elif name == "http":
                if http_result:
                    continue
                r = campaign_http.campaign(tmp / "http", seed=args.seed, log=log, **sizes["http"])
            elif name == "kill":
                r = campaign_kill.campaign(tmp / "kill", seed=args.seed, log=log, **sizes["kill"])
            else:
                r = campaign_rpc.campaign(tmp / "rpc", seed=args.seed, log=log, **sizes["rpc"])
            r.size = label
            r.figures["wall_s"] = round(time.monotonic() - t0, 1)
            for done in [r, *(http_result if name == "fuzz" else [])]:
                results.append(done)
                print(json.dumps(done.to_dict(), default=str), flush=True)
    print()
    print(summary_table(results))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=1, default=str))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
