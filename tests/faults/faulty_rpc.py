"""A FAULTY JSON-RPC endpoint, the one test proxy in front of a real anvil (loopback HTTP): it can drop
connections, delay, answer errors and garbage, and lie about fees, gas, receipts and the head (`mode`, used by the
fault campaign), or rewrite chosen methods' answers (`lies`, used by tests/node/test_hardening.py). Every
eth_sendRawTransaction is recorded (decoded: nonce, max fee, tip, gas) so a test can show nothing unsafe was ever
sent, and every method called is in `calls`."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse


# mode → what the proxy does to each request
MODES = ("healthy", "drop", "delay", "errors", "absurd_fees", "absurd_gas", "forged_receipt", "reverted_receipt",
         "stale_head")
ABSURD = hex(20_000 * 10**9)  # 20,000 gwei


def check_loopback(url: str) -> None:
    """Tests and campaigns talk to loopback only (this module has no imports of its own from tests/, so the node
    tests can use it too)."""
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"fault campaign talks to loopback only, not {url}")


def decode_raw_tx(raw: str) -> dict[str, int]:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    data = HexBytes(bytes.fromhex(raw.removeprefix("0x")))
    if data and data[0] <= 0x7F:
        tx = TypedTransaction.from_bytes(data).as_dict()
        return {"nonce": tx["nonce"], "gas": tx["gas"], "max_fee": tx.get("maxFeePerGas", tx.get("gasPrice", 0)),
                "tip": tx.get("maxPriorityFeePerGas", tx.get("gasPrice", 0)), "type": data[0]}
    import rlp

    nonce, gas_price, gas = (int.from_bytes(x, "big") for x in rlp.decode(data)[:3])
    return {"nonce": nonce, "gas": gas, "max_fee": gas_price, "tip": gas_price, "type": 0}


class FaultyRpc:
    def __init__(self, upstream: str, seed: int = 0) -> None:
        check_loopback(upstream)
        self.upstream = upstream
        self.mode = "healthy"
        # method -> the result to answer instead of anvil's (a value, or a function of anvil's result), any mode
        self.lies: dict[str, Any] = {}
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.faults: dict[str, int] = {}
        self.sent: list[dict[str, Any]] = []  # decoded raw transactions that reached the proxy
        self.swallowed: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out during "delay" or a dropped connection: expected, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def _count(self, what: str) -> None:
        with self.lock:
            self.faults[what] = self.faults.get(what, 0) + 1

    def _forward(self, body: bytes) -> Any:
        req = urllib.request.Request(self.upstream, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            return json.load(reply)

    def _reply(self, h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            self._reply(h, 400, b"{}")
            return
        batch = request if isinstance(request, list) else [request]
        mode = self.mode
        with self.lock:
            self.calls.extend(r.get("method", "") for r in batch)
        for r in batch:
            if r.get("method") == "eth_sendRawTransaction":
                try:
                    tx = decode_raw_tx(r["params"][0])
                except Exception as exc:  # noqa: BLE001 - recorded as undecodable
                    tx = {"error": repr(exc)}
                tx["mode"] = mode
                tx["raw_hash"] = hash(r["params"][0])
                with self.lock:
                    self.sent.append(tx)
        if mode == "drop":
            self._count("drop")
            h.close_connection = True
            try:
                h.connection.shutdown(2)
            except OSError:
                pass
            return
        if mode == "delay":
            self._count("delay")
            time.sleep(self.rng.choice([0.5, 1.0, 2.0, 4.0, 12.0]))  # some past a client's timeout
        if mode == "errors":
            self._count("error")
            kind = self.rng.choice(["500", "502 html", "rpc error", "garbage", "empty", "wrong id"])
            if kind == "500":
                self._reply(h, 500, b"internal error", "text/plain")
            elif kind == "502 html":
                self._reply(h, 502, b"<html>bad gateway</html>", "text/html")
            elif kind == "rpc error":
                err = [{"jsonrpc": "2.0", "id": r.get("id"), "error": {"code": -32000, "message": "header not found"}}
                       for r in batch]
                self._reply(h, 200, json.dumps(err if isinstance(request, list) else err[0]).encode())
            elif kind == "garbage":
                self._reply(h, 200, b'{"jsonrpc": "2.0", "id": 1, "result": ')
            elif kind == "empty":
                self._reply(h, 200, b"")
            else:
                wrong = [{"jsonrpc": "2.0", "id": 987654, "result": "0x1"} for _ in batch]
                self._reply(h, 200, json.dumps(wrong if isinstance(request, list) else wrong[0]).encode())
            return
        # Forward, except raw transactions swallowed while receipts are forged.
        answers: list[dict] = []
        forward = []
        for r in batch:
            if mode == "forged_receipt" and r.get("method") == "eth_sendRawTransaction":
                from eth_utils import keccak

                tx_hash = "0x" + keccak(bytes.fromhex(r["params"][0].removeprefix("0x"))).hex()
                with self.lock:
                    self.swallowed.append(tx_hash)
                self._count("swallowed tx")
                answers.append({"jsonrpc": "2.0", "id": r.get("id"), "result": tx_hash})
            else:
                forward.append(r)
                answers.append(None)  # type: ignore[arg-type]
        if forward:
            try:
                got = self._forward(json.dumps(forward if isinstance(request, list) else forward[0]).encode())
            except OSError:
                self._reply(h, 502, b"upstream down", "text/plain")
                return
            got = got if isinstance(got, list) else [got]
            it = iter(got)
            answers = [a if a is not None else next(it) for a in answers]
        for r, a in zip(batch, answers, strict=True):
            self._lie(mode, r, a)
        data = json.dumps(answers if isinstance(request, list) else answers[0]).encode()
        self._reply(h, 200, data)

    def _lie(self, mode: str, req: dict, ans: dict) -> None:
        method = req.get("method")
        if mode == "absurd_fees" and method in ("eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory"):
            self._count("absurd fee")
            ans.pop("error", None)
            if method == "eth_feeHistory":
                r = ans.get("result") or {}
                n = max(1, len(r.get("baseFeePerGas", [0])) - 1)
                ans["result"] = {**r, "baseFeePerGas": [ABSURD] * (n + 1), "reward": [[ABSURD] for _ in range(n)],
                                 "gasUsedRatio": [0.5] * n, "oldestBlock": r.get("oldestBlock", "0x1")}
            else:
                ans["result"] = ABSURD
        elif mode == "absurd_fees" and method == "eth_getBlockByNumber" and isinstance(ans.get("result"), dict):
            self._count("absurd base fee")
            ans["result"] = {**ans["result"], "baseFeePerGas": ABSURD}
        elif mode == "absurd_gas" and method == "eth_estimateGas":
            self._count("absurd gas estimate")
            ans.pop("error", None)
            ans["result"] = hex(50_000_000)
        elif mode == "forged_receipt" and method == "eth_getTransactionReceipt":
            tx_hash = req["params"][0]
            if tx_hash in self.swallowed or ans.get("result") is None:
                self._count("forged receipt")
                ans.pop("error", None)
                ans["result"] = {"transactionHash": tx_hash, "status": "0x1", "blockHash": "0x" + os.urandom(32).hex(),
                                 "blockNumber": hex(10**6), "gasUsed": hex(300_000), "logs": [],
                                 "transactionIndex": "0x0", "cumulativeGasUsed": hex(300_000),
                                 "effectiveGasPrice": hex(10**9), "from": "0x" + "00" * 20, "to": "0x" + "00" * 20,
                                 "contractAddress": None, "logsBloom": "0x" + "00" * 256, "type": "0x2"}
        elif mode == "reverted_receipt" and method == "eth_getTransactionReceipt" and ans.get("result"):
            self._count("receipt says reverted")
            ans["result"] = {**ans["result"], "status": "0x0", "logs": []}
        elif mode == "stale_head" and method == "eth_blockNumber":
            self._count("stale head")
            ans["result"] = "0x1"
        lie = self.lies.get(method)
        if lie is not None:
            ans.pop("error", None)
            ans["result"] = lie(ans.get("result")) if callable(lie) else lie

    def __enter__(self) -> FaultyRpc:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
