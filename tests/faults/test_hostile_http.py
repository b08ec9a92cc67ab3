"""Short hostile-HTTP campaign: every route of the web app (from app.routes) under a real uvicorn gets hostile
paths, queries, headers and methods; no answer is 5xx and nothing we send comes back unescaped (full size:
bench/faults.py http)."""

from __future__ import annotations

import campaign_http


def test_every_route_answers_hostile_input_with_4xx_or_escaped(tmp_path, report) -> None:
    result = campaign_http.campaign(tmp_path, max_requests=800, budget_s=240, seed=14)
    report(result)
    assert result.figures["routes_probed"] >= result.figures["routes"], "a route got no probe"
    assert result.figures["answers_5xx"] == 0 or all("503" not in f for f in result.failures)
    assert result.ok, result.failures[:20]


def test_the_route_walk_finds_the_known_routes(tmp_path) -> None:
    routes = {r["path"] for r in campaign_http.walk_routes(campaign_http.seeded_app(tmp_path))}
    for path in ("/", "/leaderboard", "/nodes/{address}", "/proofs/{address}/{epoch}/verify",
                 "/api/proofs/{address}/{epoch}/verify", "/api/leaderboard", "/static"):
        assert path in routes, (path, sorted(routes))
