"""Web fixtures: one real chain (anvil + deployed stack + real proofs) and one real server per session.

Building the chain proves three epochs with the real circuit, so it is shared by every web test; tests that
change it (claims, reorgs) say so and leave what the others check intact.
"""

from __future__ import annotations

import shutil
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chainsetup import WebChain, build_chain, wait_for  # noqa: E402
from postgres import TempPostgres  # noqa: E402
from seed import seed_index  # noqa: E402

from oracle.net import free_port  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    """One real PostgreSQL server for the session (started on first use, stopped and deleted at the end)."""
    if not TempPostgres.available():
        pytest.fail("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index location on each backend: a SQLite file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "index.sqlite")
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def seeded(index_url: str) -> str:
    """A web index seeded without a chain (tests/web/seed.py), on each backend."""
    return seed_index(index_url)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite web index seeded without a chain (tests/web/seed.py)."""
    return seed_index(tmp_path / "web.sqlite")


@pytest.fixture(scope="session")
def web_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebChain]:
    chain = build_chain(tmp_path_factory.mktemp("web-chain"))
    try:
        yield chain
    finally:
        chain.anvil.stop()


@dataclass
class Server:
    url: str
    db: Path
    app: object


@pytest.fixture(scope="session")
def web_server(web_chain: WebChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`web.app.create_app` following the chain (0 confirmations: anvil mines on demand) under a real uvicorn
    on a free loopback port."""
    import uvicorn

    from web.app import create_app

    db = tmp_path_factory.mktemp("web-db") / "index.sqlite"
    app = create_app(db, web_chain.deployment, web_chain.anvil.url, follow=True, confirmations=0,
                     poll_interval=0.2)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.started, "uvicorn to start")
        wait_for(lambda: b'"proofs":3' in urllib.request.urlopen(f"{url}/api/totals", timeout=2).read(),
                 "the indexer to index the three proofs")
        yield Server(url, db, app)
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
