"""The one free-port probe: which loopback TCP ports our servers (anvil, web, exporter) can bind."""

from __future__ import annotations

import socket


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on host:port now.

    SO_REUSEADDR, as servers set it, so that sockets of a process that just stopped (TIME_WAIT) do not count
    as taken: only another process really listening does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (the usual race applies: bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
