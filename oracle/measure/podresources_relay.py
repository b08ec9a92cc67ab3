"""A byte relay from a pod-local unix socket the oracle may open to the kubelet's root-only pod-resources socket.

Why it exists: the kubelet creates /var/lib/kubelet/pod-resources (mode 0750) and kubelet.sock owned by root, and
connect() on a unix socket needs write permission on it, so only uid 0 gets in. Rather than run the whole oracle
(node key, exporter, prover) as root, the DaemonSet runs this relay in a sidecar container as uid 0 with every
capability dropped (owner permissions suffice), no network and a read-only root filesystem. It listens on a
socket in an emptyDir shared with the oracle, mode 0660 and group = its own gid (runAsGroup 10001, the oracle's),
and copies bytes both ways to the kubelet socket. It parses nothing: the oracle speaks gRPC to the kubelet through
it, and the pod-resources API is read-only (List, Get, GetAllocatableResources).

    python -m oracle.measure.podresources_relay --listen /run/ecoai/pod-resources/kubelet.sock

Stdlib only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import stat
from collections.abc import Sequence
from functools import partial

from oracle.measure.podresources import DEFAULT_SOCKET

log = logging.getLogger("ecoai.podresources.relay")
CHUNK = 64 * 1024
DEFAULT_MODE = 0o660  # owner (root) and group (the oracle's gid): nobody else in the pod


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()  # one side gone: end the other too (gRPC reconnects on its next call)


async def _relay(upstream: str, state: dict[str, bool], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(upstream)
    except OSError as exc:
        if not state.get("failing"):  # once per outage; the client sees a closed connection (gRPC UNAVAILABLE)
            log.warning("cannot reach the kubelet socket %s: %s", upstream, exc)
            state["failing"] = True
        writer.close()
        return
    if state.pop("failing", False):
        log.info("kubelet socket %s reachable again", upstream)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(listen: str, upstream: str = DEFAULT_SOCKET, mode: int = DEFAULT_MODE,
                stop: asyncio.Event | None = None, ready: asyncio.Event | None = None) -> None:
    """Relay connections on `listen` to `upstream` until `stop` is set (for ever without one)."""
    try:
        if stat.S_ISSOCK(os.lstat(listen).st_mode):
            os.unlink(listen)  # a socket left by a killed relay: rebinding would fail
    except FileNotFoundError:
        pass
    server = await asyncio.start_unix_server(partial(_relay, upstream, {}), path=listen)
    os.chmod(listen, mode)
    log.info("relaying %s -> %s (mode %o)", listen, upstream, mode)
    if ready is not None:
        ready.set()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        server.close()
        await server.wait_closed()
        try:
            os.unlink(listen)
        except FileNotFoundError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle.measure.podresources_relay",
                                     description="Relay a pod-local unix socket to the kubelet pod-resources socket.")
    parser.add_argument("--listen", required=True, help="socket to create (in a volume shared with the oracle)")
    parser.add_argument("--upstream", default=DEFAULT_SOCKET, help=f"the kubelet's socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--mode", type=lambda s: int(s, 8), default=DEFAULT_MODE,
                        help=f"octal mode of the listening socket (default {DEFAULT_MODE:o})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):  # the kubelet stops the pod with SIGTERM
            loop.add_signal_handler(signum, stop.set)
        await serve(args.listen, args.upstream, args.mode, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
