"""Whether a port is free to listen on, checked before anything starts on it."""

from __future__ import annotations

import errno
import socket

__all__ = ["PortInUseError", "check_port"]


class PortInUseError(OSError):
    def __init__(self, host: str, port: int, option: str = "--port") -> None:
        super().__init__(f"port {port} is in use on {host}; pick another with {option}")


def check_port(host: str, port: int, option: str = "--port") -> int:
    """`port`, free to listen on (0: any free one), or PortInUseError naming `option`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As uvicorn and Prometheus's exporter bind: a port in TIME_WAIT is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port, option) from None
            raise
        return int(probe.getsockname()[1])
