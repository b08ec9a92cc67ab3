"""A LYING JSON-RPC endpoint for tests: a small loopback HTTP proxy in front of a real anvil that forwards every
call and rewrites the answers a fee-suggesting endpoint controls (eth_gasPrice, eth_maxPriorityFeePerGas,
eth_feeHistory, eth_estimateGas). It records which methods were called, so a test can show nothing was sent."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LyingRpc:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lies: dict[str, Any] = {}  # method -> hex result to answer instead of anvil's
        self.calls: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(body)
                batch = request if isinstance(request, list) else [request]
                proxy.calls.extend(r.get("method", "") for r in batch)
                forwarded = urllib.request.Request(proxy.upstream, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(forwarded, timeout=10) as reply:
                    answer = json.load(reply)
                answers = answer if isinstance(answer, list) else [answer]
                for req, ans in zip(batch, answers, strict=False):
                    lie = proxy.lies.get(req.get("method"))
                    if lie is not None:
                        ans.pop("error", None)
                        ans["result"] = lie(ans.get("result")) if callable(lie) else lie
                data = json.dumps(answer if isinstance(answer, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> LyingRpc:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
