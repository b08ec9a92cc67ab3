"""Fault campaign 4: hostile HTTP input to every route of the web app, under a real uvicorn on loopback.

The routes come from the app itself (app.routes, walking included routers and mounts), so a route added later
is covered without editing this file. Each route gets a table of hostile values in every path parameter, every
known query parameter and unknown ones, plus route-independent requests: oversized paths and query strings,
malformed percent-encoding and UTF-8, path traversal, other methods, hostile HTMX and Host headers, bodies on
GET. Requests go over raw sockets so nothing normalises them on the way.

Held means: the answer is not 5xx, and a hostile marker we sent never comes back unescaped in a non-JSON answer
(HTML, text); JSON answers must say application/json with X-Content-Type-Options: nosniff. Bounded in count and
in time."""

from __future__ import annotations

import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from faultlib import REPO_ROOT, CampaignResult, Deadline

MARK = "x9q"  # our markers carry it, so a reflection is ours and not the seeded hostile label
SCRIPT = f"<script>{MARK}(1)</script>"
RAW_MARKERS = (f"<script>{MARK}", f"<img src=x onerror={MARK}", f"<svg onload={MARK}", f"\"><b {MARK}",
               f"'><b {MARK}")
# A javascript: URL is harmless as text; it is a reflection only inside a URL attribute.
JS_URL = re.compile(r"""(?:href|src|action|formaction|hx-get|hx-post)\s*=\s*["']?\s*javascript:""" + MARK, re.I)
SEEDED_HOSTILE = "<script>alert(1)</script>"  # tests/web/seed.py puts it in a node label and a message

VALID_NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

# Values for any parameter: markup, SQL, unicode, numbers at and past every edge, path tricks.
HOSTILE_VALUES: list[tuple[str, str]] = [
    ("script", SCRIPT),
    ("img onerror", f"<img src=x onerror={MARK}(1)>"),
    ("svg onload", f"<svg onload={MARK}(1)>"),
    ("attribute break", f"\"><b {MARK}>"),
    ("single-quote break", f"'><b {MARK}>"),
    ("javascript url", f"javascript:{MARK}(1)"),
    ("template", "{{7*7}}${7*7}<%= 7*7 %>"),
    ("sql quote", "' OR '1'='1"),
    ("sql union", "1 UNION SELECT name FROM sqlite_master--"),
    ("sql drop", "1; DROP TABLE proofs;--"),
    ("sql comment", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8'--"),
    ("empty", ""),
    ("space", " "),
    ("null byte", "\x00"),
    ("control chars", "\x01\x1b[31m\r\n"),
    ("crlf injection", f"a\r\nSet-Cookie: {MARK}=1"),
    ("rtl override", "\u202e0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    ("zero width", "0x7099\u200b7970C51812dc3A010C7d01b50e0d17dc79C8"),
    ("fullwidth digits", "\uff11\uff12"),
    ("arabic-indic digits", "\u0661\u0662"),
    ("emoji", "\U0001f525" * 10),
    ("lone surrogate (escaped)", "%ED%A0%80"),
    ("-1", "-1"),
    ("0", "0"),
    ("2^63", str(2**63)),
    ("2^64", str(2**64)),
    ("2^64-1", str(2**64 - 1)),
    ("2^256", str(2**256)),
    ("huge int", "9" * 5000),
    ("float", "1.5"),
    ("exponent", "1e9"),
    ("nan", "NaN"),
    ("inf", "Infinity"),
    ("hex number", "0x10"),
    ("negative zero", "-0"),
    ("plus sign", "+1"),
    ("leading zeros", "0000000001"),
    ("underscore int", "1_000"),
    ("bad address", "0x123"),
    ("address lowercase", VALID_NODE.lower()),
    ("address bad checksum", VALID_NODE[:-1] + "c"),
    ("address no 0x", VALID_NODE[2:]),
    ("address too long", VALID_NODE + "00"),
    ("zero address", "0x" + "0" * 40),
    ("address non-hex", "0x" + "g" * 40),
    ("traversal", "../../../../etc/passwd"),
    ("encoded traversal", "..%2F..%2F..%2Fetc%2Fpasswd"),
    ("double-encoded", "%252e%252e%252f"),
    ("backslash", "..\\..\\windows"),
    ("long 10k", "A" * 10_000),
    ("json", '{"a": [1, 2, {"$ne": null}]}'),
    ("array syntax", "a[]=1&a[0]=2"),
]

# Extra headers: HTMX and friends with hostile values.
HEADER_SETS: list[tuple[str, dict[str, str]]] = [
    ("none", {}),
    ("HX-Request", {"HX-Request": "true"}),
    ("HX-Request + history restore", {"HX-Request": "true", "HX-History-Restore-Request": "true"}),
    ("HX hostile", {"HX-Request": SCRIPT, "HX-Target": SCRIPT, "HX-Trigger": SCRIPT,
                    "HX-Current-URL": f"http://127.0.0.1/{SCRIPT}", "HX-Boosted": "maybe"}),
    ("hostile Host", {"Host": f"evil.example{MARK}"}),
    ("hostile Referer/UA", {"Referer": f"javascript:{MARK}(1)", "User-Agent": SCRIPT, "Accept-Language": SCRIPT}),
    ("odd Accept", {"Accept": "application/json;q=1, */*;q=0, " + "x" * 2000}),
    ("forwarded", {"X-Forwarded-For": "1.2.3.4, " * 200, "X-Forwarded-Host": SCRIPT, "Forwarded": SCRIPT}),
    ("huge cookie", {"Cookie": "a=" + "b" * 7000}),
    ("bad encoding", {"Accept-Encoding": "gzip;q=x, br, " + "z" * 500}),
]


@dataclass
class Probe:
    route: str
    kind: str
    method: str
    target: str  # raw request-target bytes as text (already percent-encoded where it must be)
    headers: dict[str, str]
    body: bytes = b""


def walk_routes(app: Any) -> list[dict[str, Any]]:
    """Every route of the app: {path, methods, path_params, query_params, mount}."""
    out: list[dict[str, Any]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            name = type(r).__name__
            if name == "_IncludedRouter":
                ctx = getattr(r, "include_context", None)
                walk(r.original_router.routes, prefix + (getattr(ctx, "prefix", "") or ""))
            elif name == "Mount":
                out.append({"path": prefix + r.path, "methods": ["GET"], "path_params": [], "query_params": [],
                            "mount": True})
            elif hasattr(r, "path"):
                dep = getattr(r, "dependant", None)
                params = [p.name for p in dep.path_params] if dep else [
                    s.strip("{}").split(":")[0] for s in r.path.split("/") if s.startswith("{")]
                out.append({"path": prefix + r.path, "methods": sorted(getattr(r, "methods", None) or ["GET"]),
                            "path_params": params, "query_params": [p.name for p in dep.query_params] if dep else [],
                            "mount": False})
    walk(app.routes, "")
    seen, unique = set(), []
    for r in out:
        if r["path"] not in seen:
            seen.add(r["path"])
            unique.append(r)
    return unique


def _enc(value: str) -> str:
    """Percent-encode for a path segment or query value; a value that is already an escape sequence (starts
    with %) is sent as is."""
    if value.startswith("%") or "%2F" in value or "%252" in value:
        return value
    return quote(value, safe="")


def _fill(path: str, params: list[str], override: dict[str, str]) -> str:
    valid = {"address": VALID_NODE, "epoch": "10", "token_id": "1"}
    out = path
    for p in params:
        out = out.replace("{" + p + "}", override.get(p, _enc(valid.get(p, "1"))))
    return out


def build_probes(routes: list[dict[str, Any]], rng: random.Random, max_per_route: int) -> list[Probe]:
    probes: list[Probe] = []
    for r in routes:
        mine: list[Probe] = []
        path = r["path"]
        if r["mount"]:
            base = path.rstrip("/")
            for kind, tail in [("traversal", "/../../../../etc/passwd"), ("encoded traversal", "/..%2F..%2F..%2Fetc%2Fpasswd"),
                               ("dot segments", "/%2e%2e/%2e%2e/pyproject.toml"), ("double slash", "//etc/passwd"),
                               ("backslash", "/..%5c..%5cpyproject.toml"), ("null byte", "/htmx.min.js%00.html"),
                               ("script name", "/" + quote(SCRIPT, safe="")), ("long", "/" + "a" * 8000),
                               ("overlong utf-8", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"),
                               ("missing", "/nope.js"), ("directory", "/"), ("bad escape", "/%zz%g1")]:
                mine.append(Probe(path, f"mount {kind}", "GET", base + tail, {}))
            probes += mine
            continue
        # Each path parameter through the hostile table (the others valid).
        for p in r["path_params"]:
            for kind, value in HOSTILE_VALUES:
                target = _fill(path, r["path_params"], {p: _enc(value)})
                mine.append(Probe(path, f"path {p}: {kind}", "GET", target, {}))
        base = _fill(path, r["path_params"], {})
        # Each known query parameter, and unknown ones.
        for q in r["query_params"]:
            for kind, value in HOSTILE_VALUES:
                mine.append(Probe(path, f"query {q}: {kind}", "GET", f"{base}?{q}={_enc(value)}", {}))
            mine.append(Probe(path, f"query {q} repeated", "GET", f"{base}?{q}=1&{q}=2&{q}={_enc(SCRIPT)}", {}))
        for kind, value in rng.sample(HOSTILE_VALUES, 8):
            mine.append(Probe(path, f"unknown query: {kind}", "GET", f"{base}?{_enc(SCRIPT)}={_enc(value)}", {}))
        mine.append(Probe(path, "huge query string (64 KiB)", "GET",
                          base + "?" + "&".join(f"junk{i}={'x' * 50}" for i in range(1200)), {}))
        mine.append(Probe(path, "1000 unknown params", "GET", base + "?" + "&".join(f"j{i}=1" for i in range(1000)), {}))
        mine.append(Probe(path, "bad percent escapes", "GET", base + "?page=%zz&%=%&sort=%E0%A4%A", {}))
        mine.append(Probe(path, "raw utf-8 in query", "GET", base + "?q=\u00e9\U0001f525", {}))
        mine.append(Probe(path, "trailing slash", "GET", base + "/", {}))
        mine.append(Probe(path, "double slash", "GET", "/" + base, {}))
        mine.append(Probe(path, "dot segment", "GET", base + "/../" + base.strip("/"), {}))
        mine.append(Probe(path, "fragment in target", "GET", base + "#" + quote(SCRIPT), {}))
        mine.append(Probe(path, "appended script segment", "GET", base + "/" + quote(SCRIPT, safe=""), {}))
        mine.append(Probe(path, "suffix .php", "GET", base + ".php", {}))
        for kind, headers in HEADER_SETS:
            mine.append(Probe(path, f"headers: {kind}", "GET", base, headers))
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD", "PROPFIND"):
            mine.append(Probe(path, f"method {method}", method, base, {"Content-Type": "application/json"},
                              b'{"a":1}' if method in ("POST", "PUT", "PATCH") else b""))
        mine.append(Probe(path, "GET with 1 MiB body", "GET", base, {"Content-Type": "application/json"},
                          b"{" + b" " * (1 << 20) + b"}"))
        mine.append(Probe(path, "malformed JSON body", "POST", base, {"Content-Type": "application/json"},
                          b'{"a": [1, 2,'))
        if len(mine) > max_per_route:
            mine = rng.sample(mine, max_per_route)
        probes += mine
    # Route-independent.
    for kind, target in [("very long path 64 KiB", "/" + "a" * 65_000), ("path of scripts", "/" + quote(SCRIPT) * 50),
                         ("absolute-form target", "http://127.0.0.1/leaderboard"), ("asterisk", "*"),
                         ("unknown route", "/wp-admin/" + quote(SCRIPT)), ("encoded slash route", "/nodes%2F" + VALID_NODE),
                         ("null in path", "/nodes/%00"), ("overlong utf-8 path", "/%c0%af%c0%af"),
                         ("raw unicode path", "/n\u00f6des/\U0001f525")]:
        probes.append(Probe("(any)", kind, "GET", target, {}))
    return probes


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send(host: str, port: int, probe: Probe, timeout: float = 30.0) -> Answer:
    headers = {"Host": f"{host}:{port}", "Connection": "close", "User-Agent": "ecoai-fault-campaign"}
    headers.update(probe.headers)
    if probe.body:
        headers["Content-Length"] = str(len(probe.body))
    head = f"{probe.method} {probe.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = head.encode("utf-8", "surrogateescape") + b"\r\n" + probe.body
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413/431) and close before reading the whole request
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    data = b"".join(chunks)
    if not data:
        return Answer(0, {}, b"")  # closed without an answer (h11 refusing an invalid request line)
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Answer(status, hdrs, body)


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


def judge(probe: Probe, answer: Answer, chainless: bool = False) -> str | None:
    """None when the answer holds, else why not. `chainless`: the app runs without a chain, so the routes that
    read the chain answer 503 "no chain configured" by design."""
    if answer.status == 0:
        return None  # the HTTP layer refused to parse it: nothing reached the app, nothing reflected
    if answer.status == 503 and chainless and b"no chain" in answer.body:
        return None
    if answer.status >= 500:
        return f"{answer.status}"
    ctype = answer.headers.get("content-type", "")
    text = answer.body.decode("utf-8", "replace")
    if "json" in ctype:
        if answer.headers.get("x-content-type-options") != "nosniff" and answer.status < 300 and answer.body:
            return "JSON without X-Content-Type-Options: nosniff"
        return None
    if probe.method == "HEAD":
        return None
    for marker in RAW_MARKERS:
        if marker in text:
            return f"reflected unescaped: {marker!r} ({ctype})"
    if JS_URL.search(text):
        return f"javascript: URL reflected into an attribute ({ctype})"
    if SEEDED_HOSTILE in text:
        return f"seeded hostile label unescaped ({ctype})"
    if "set-cookie" in answer.headers and MARK in answer.headers["set-cookie"]:
        return "header injection: Set-Cookie"
    return None


class UvicornServer:
    """A real uvicorn on a free loopback port in a thread; stopped on exit."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from oracle.net import free_port

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-faults", daemon=True)

    def __enter__(self) -> UvicornServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def run_http(app: Any, rng: random.Random, max_requests: int, budget_s: float, max_per_route: int = 10_000,
             chainless: bool = False, log=print) -> CampaignResult:
    routes = walk_routes(app)
    probes = build_probes(routes, rng, max_per_route)
    if len(probes) > max_requests:
        probes = rng.sample(probes, max_requests)
    deadline = Deadline(budget_s)
    statuses: Counter[int] = Counter()
    per_route: Counter[str] = Counter()
    failures: list[str] = []
    tried = held = 0
    t0 = time.monotonic()
    with UvicornServer(app) as server:
        for probe in probes:
            if deadline.over():
                break
            try:
                answer = send("127.0.0.1", server.port, probe)
            except (TimeoutError, socket.timeout):
                answer = Answer(599, {}, b"")  # counted as a failure: a request that hangs is not an answer
            except ConnectionRefusedError as exc:
                failures.append(f"server gone at {probe.route} {probe.kind}: {exc}")
                break
            tried += 1
            per_route[probe.route] += 1
            statuses[answer.status] += 1
            why = judge(probe, answer, chainless)
            if why is None:
                held += 1
            else:
                failures.append(f"{probe.method} {probe.route} [{probe.kind}] -> {why}: {probe.target[:120]!r}")
    elapsed = time.monotonic() - t0
    return CampaignResult("hostile HTTP input", tried, held, figures={
        "routes": len(routes), "routes_probed": len(per_route), "requests": tried,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "answers_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "closed_by_http_layer_without_answer": statuses.get(0, 0),
        "seconds": round(elapsed, 1), "per_route": dict(per_route)}, failures=failures)


def seeded_app(tmp: Path) -> Any:
    """The web app over an index seeded with hostile chain values (tests/web/seed.py), no chain."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "web"))
    from seed import seed_index

    from web.app import create_app

    tmp.mkdir(parents=True, exist_ok=True)
    return create_app(seed_index(tmp / "index.sqlite"))


def campaign(tmp: Path, max_requests: int = 5_000, budget_s: float = 600.0, seed: int | None = None,
             app: Any = None, log=print) -> CampaignResult:
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    chainless = app is None
    result = run_http(seeded_app(tmp) if chainless else app, rng, max_requests, budget_s, chainless=chainless,
                      log=log)
    result.figures["app"] = "seeded index, no chain (503 'no chain' by design)" if chainless else "real chain"
    result.figures["seed"] = seed
    return result
