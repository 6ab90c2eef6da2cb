"""A write in flight: sent, and done only once `wait` returns.

The store's insert of a batch, the feature state's fold, a sink's publish: each is sent
and the caller works on while it completes, then waits for it before it counts the work
as done (a stream worker, before it commits offsets). `wait` returns the write's result
or raises its error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

__all__ = ["DONE", "Done", "InFlight", "Pending"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    def wait(self) -> T_co:
        """Block until the write is done; its result, or its error."""
        ...


class Done(Generic[T]):
    """A write that was done when it returned."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def wait(self) -> T:
        return self.value


class InFlight(Generic[T]):
    """A write sent; `collect` reads its outcome (the backend's reply) when waited for."""

    __slots__ = ("_collect",)

    def __init__(self, collect: Callable[[], T]) -> None:
        self._collect = collect

    def wait(self) -> T:
        return self._collect()


#: A write without a result, done when it returned.
DONE: Final[Done[None]] = Done(None)
