"""Checking an accepted proof without trusting the server, and "verify again" under load (issue 14, finding 1).

- The proof page's downloads (proof.json, public.json, the verification key) are verified by the real snarkjs
  CLI, for a single submit and for an epoch settled in a batch; a tampered public signal is rejected.
- "Verify again" runs the Python verifier (~0.7 s of CPU) at most `slots` at a time, answers 429 with
  Retry-After beyond that, verifies each proof once and answers every later request from the stored result
  (also after a restart, without a chain), and the rest of the site keeps answering while it is hammered.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chainsetup import wait_for
from oracle.net import free_port
from oracle.paths import REPO_ROOT

pytestmark = pytest.mark.chain

SNARKJS = REPO_ROOT / "node_modules" / ".bin" / "snarkjs"


def get(url: str, timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def snarkjs_verify(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNARKJS), "groth16", "verify", str(folder / "verification_key.json"),
                           str(folder / "public.json"), str(folder / "proof.json")],
                          capture_output=True, text=True, timeout=120)


def test_snarkjs_verifies_the_downloaded_proof_files(web_server, web_chain, tmp_path: Path) -> None:
    single, batched = web_chain.proofs[0], web_chain.proofs[-1]
    assert (single["batch_size"], batched["batch_size"]) == (1, 2)
    status, _, vk = get(f"{web_server.url}/verification_key.json")
    assert status == 200
    for proof in (single, batched):
        folder = tmp_path / f"{proof['node']}-{proof['epoch']}"
        folder.mkdir()
        (folder / "verification_key.json").write_bytes(vk)
        base = f"{web_server.url}/proofs/{proof['node']}/{proof['epoch']}"
        for name in ("proof.json", "public.json"):
            status, headers, body = get(f"{base}/{name}")
            assert status == 200 and f'filename="{name}"' in headers["content-disposition"], name
            (folder / name).write_bytes(body)
        assert json.loads((folder / "public.json").read_text()) == proof["public_signals"]
        assert json.loads((folder / "proof.json").read_text())["pi_b"] == proof["snarkjs_proof"]["pi_b"]  # [c0, c1]
        result = snarkjs_verify(folder)
        assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr
        page = get(base)[2].decode()
        assert f'href="/proofs/{proof["node"]}/{proof["epoch"]}/proof.json"' in page
    # Tampered: the work total one higher. snarkjs refuses it.
    signals = json.loads((folder / "public.json").read_text())
    signals[1] = str(int(signals[1]) + 1)
    (folder / "public.json").write_text(json.dumps(signals))
    result = snarkjs_verify(folder)
    assert "OK" not in result.stdout and "Invalid proof" in result.stdout + result.stderr, result.stdout


class Served:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_for(lambda: self.server.started, "uvicorn to start")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def test_verify_is_bounded_stored_and_leaves_the_site_answering(web_chain, tmp_path: Path, monkeypatch) -> None:
    import web.chain
    from web.app import create_app
    from web.routes.common import VerifyGate

    python_runs: list[tuple[int, ...]] = []
    real = web.chain.python_verify

    def counted(proof: list[int], signals: list[int]) -> tuple[bool, str]:
        python_runs.append(tuple(signals))
        return real(proof, signals)

    monkeypatch.setattr(web.chain, "python_verify", counted)
    db = tmp_path / "verify.sqlite"
    app = create_app(db, web_chain.deployment, web_chain.anvil.url, follow=True, confirmations=0, poll_interval=0.2)
    gate = app.state.web.verify_gate = VerifyGate(slots=1, retry_after_s=3)
    proofs = web_chain.proofs
    with Served(app) as served:
        wait_for(lambda: json.loads(get(f"{served.url}/api/totals")[2])["proofs"] == 3, "the three proofs")
        verify_urls = [f"{served.url}/api/proofs/{p['node']}/{p['epoch']}/verify" for p in proofs]
        page_verify = f"{served.url}/proofs/{proofs[1]['node']}/{proofs[1]['epoch']}/verify"
        others = [f"{served.url}{path}" for path in ("/", "/leaderboard", "/api/totals", "/api/leaderboard",
                                                      f"/nodes/{proofs[0]['node']}", "/parameters", "/healthz")]
        # Uncached pages: the page cache must not be what keeps them fast.
        app.state.page_cache.max_bytes = 0
        hammer = verify_urls * 4 + [page_verify] * 2
        with ThreadPoolExecutor(max_workers=len(hammer) + len(others)) as pool:
            verifies = [pool.submit(get, url) for url in hammer]
            answers = [pool.submit(get, url, 30.0) for url in others * 2]
            verify_results = [f.result() for f in verifies]
            other_results = [f.result() for f in answers]
        assert all(status == 200 for status, _, _ in other_results), [s for s, _, _ in other_results]
        statuses = [status for status, _, _ in verify_results]
        assert set(statuses) <= {200, 429}, statuses
        refused = [(h, b) for s, h, b in verify_results if s == 429]
        assert refused, statuses  # more distinct proofs than slots at once: some are turned away
        for headers, body in refused:
            assert headers["retry-after"] == "3"
        assert gate.busy == 0 and not gate.inflight
        # Whatever was refused is verified now (one at a time, nothing else running): each proof valid.
        first = {}
        for url in verify_urls:
            status, _, body = get(url)
            assert status == 200
            first[url] = json.loads(body)
            assert first[url]["onchain"] is True and first[url]["python"] is True, first[url]
        runs = gate.runs
        assert runs == len(proofs) and len(python_runs) == len(proofs)  # each proof verified exactly once
        for url in verify_urls:  # asked again: the stored result, no verifier run
            again = json.loads(get(url)[2])
            assert again["stored"] is True and again["python"] is True and again["proof"] == first[url]["proof"]
        status, _, body = get(page_verify)
        assert status == 200 and b"Checked" in body and b"and kept" in body
        assert gate.runs == runs and len(python_runs) == len(proofs)
    # Kept in the database: a new server without any chain answers from it.
    from fastapi.testclient import TestClient

    with TestClient(create_app(db)) as offline:
        stored = offline.get(f"/api/proofs/{proofs[0]['node']}/{proofs[0]['epoch']}/verify").json()
        assert stored["stored"] is True and stored["onchain"] is True and stored["python"] is True
    assert len(python_runs) == len(proofs)


def test_a_busy_verifier_answers_429_on_the_page_route_too(web_chain, tmp_path: Path) -> None:
    """Every slot taken (simulated by the gate's counter): the HTMX fragment route says so with Retry-After."""
    from fastapi.testclient import TestClient

    from web.app import create_app
    from web.routes.common import VerifyGate

    app = create_app(tmp_path / "busy.sqlite", web_chain.deployment, web_chain.anvil.url)
    from web.chain import Chain
    from web.indexer import Indexer

    indexer = Indexer(tmp_path / "busy.sqlite", Chain.connect(web_chain.deployment, web_chain.anvil.url),
                      confirmations=0)
    indexer.sync()
    indexer.close()
    gate = app.state.web.verify_gate = VerifyGate(slots=1, retry_after_s=7)
    gate.busy = 1
    proof = web_chain.proofs[0]
    with TestClient(app) as client:
        for path in (f"/proofs/{proof['node']}/{proof['epoch']}/verify",
                     f"/api/proofs/{proof['node']}/{proof['epoch']}/verify"):
            response = client.get(path, headers={"HX-Request": "true"})
            assert response.status_code == 429 and response.headers["retry-after"] == "7", path
            assert "too many verifications" in response.text
    assert gate.runs == 0
