"""The web's one cache: rendered pages, replayed byte for byte until the index changes.

The pages show only what the indexer wrote, so a page rendered once is valid until the index version moves
(`web.db.schema.index_version`: bumped in the same transaction as every indexed batch and every reorg
roll-back). `PageCacheMiddleware` is a plain ASGI middleware in front of the app: on a hit it sends the stored
response messages (status, every header, body) without routing, validation, SQL or templates; on a miss the
request goes through the app untouched and a 200 answer is stored. The key is the canonical request: path,
the query parameters that page declares (last value of each, in name order; anything else cannot change the
answer, so `?junk=1` … `?junk=200` share one entry) and whether HTMX asked for a fragment (the only request
header a page depends on). Bounded by bytes, least recently used entry evicted first.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

ASGIApp = Callable[..., Awaitable[None]]
Message = MutableMapping[str, Any]
CacheKey = tuple[str, str, bool]
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@functools.lru_cache(maxsize=8192)
def canonical_query(raw: bytes, known: frozenset[str]) -> str:
    """The query parameters a page reads, re-encoded in name order: the last value of each known name (as
    FastAPI reads them); unknown names dropped. `?page=2&sort=score` and `?sort=score&page=2&x=1` share it."""
    if not raw or not known:
        return ""
    last = {name: value for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            if name in known}
    return urlencode(sorted(last.items()))


def is_fragment(headers: list[tuple[bytes, bytes]]) -> bool:
    """HTMX asked for a fragment, unless it restores history (then it needs the whole page). Raw ASGI headers:
    names arrive lower-case."""
    names = {name for name, _ in headers}
    return b"hx-request" in names and b"hx-history-restore-request" not in names


class PageCache:
    """The stored pages of one app (one process) and their hit/miss counts.

    version: the index version now (None: unknown, do not cache); known_params: for a path, the query
    parameters its page reads, or None when the path is not a cached page.
    """

    def __init__(self, version: Callable[[], int | None], known_params: Callable[[str], frozenset[str] | None],
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.version = version
        self.known_params = known_params
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, tuple[Message, bytes]] = OrderedDict()
        self._bytes = 0
        self._version: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def current(self) -> int | None:
        """The index version now; a change empties the cache. None: the index cannot say (do not cache)."""
        version = self.version()
        if version is not None and version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = version
        return version

    def get(self, key: CacheKey) -> tuple[Message, bytes] | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        return entry

    def put(self, key: CacheKey, version: int, start: Message, body: bytes) -> None:
        """Store a page rendered at `version`, unless a newer version retired it meanwhile."""
        if version != self._version or len(body) > self.max_bytes // 16:
            return
        previous = self._entries.pop(key, None)  # two misses of one page raced: keep one copy
        if previous is not None:
            self._bytes -= len(previous[1])
        self._entries[key] = (start, body)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= len(evicted)


class PageCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Awaitable[None]]) -> None:
        cache = self.cache
        known = cache.known_params(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if known is None:
            await self.app(scope, receive, send)
            return
        version = cache.current()
        if version is None:  # serve uncached; the app answers the database's errors itself
            await self.app(scope, receive, send)
            return
        key = (scope["path"], canonical_query(scope["query_string"], known), is_fragment(scope["headers"]))
        entry = cache.get(key)
        if entry is not None:
            start, body = entry
            await send({**start, "headers": list(start["headers"])})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        start_message: Message = {}
        chunks: list[bytes] = []
        complete = False

        async def capture(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                start_message.update(message, headers=list(message.get("headers", [])))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if complete and start_message.get("status") == 200:  # errors are not stored: hostile input can't fill it
            cache.put(key, version, start_message, b"".join(chunks))
