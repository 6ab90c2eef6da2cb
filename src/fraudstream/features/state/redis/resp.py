"""Redis's wire format (RESP), written by hand for the merge's large arguments."""

from __future__ import annotations

from typing import Any

__all__ = ["encode"]


class _BulkHeaders(dict[int, bytes]):
    """RESP's "$<length>" line per argument length, formatted once: arguments come in a
    few lengths (rows, keys, versions), and formatting each was much of `encode`'s work."""

    def __missing__(self, length: int) -> bytes:
        header = b"$%d\r\n" % length
        if length <= 1 << 16:  # bounded: rows, keys and operations are all shorter
            self[length] = header
        return header


_BULK_HEADERS = _BulkHeaders()


def encode(commands: list[tuple[Any, ...]]) -> bytes:
    """Commands in Redis's wire format. Hand-written because redis-py's packer (hiredis
    included) copies every argument on the way, and a merge's arguments are megabytes."""
    parts: list[bytes] = []
    headers = _BULK_HEADERS
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts += (headers[len(data)], data, b"\r\n")
    return b"".join(parts)
