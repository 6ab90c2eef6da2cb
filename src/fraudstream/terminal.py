"""Output for people: a spinner at a terminal, a plain line in a log or a pipe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

__all__ = ["working"]


@contextmanager
def working(on: Console, what: str) -> Iterator[None]:
    """A spinner while `what` is being done; without a terminal, `what` as a line of its own."""
    if on.is_terminal:
        with on.status(what):
            yield
    else:
        on.print(f"{what} ...")
        yield
