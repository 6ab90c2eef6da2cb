"""Sources and sinks of the stream worker: batches in, batches out, commit after the sinks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fraudstream.pending import Pending
from fraudstream.schema import Decision, Transaction

__all__ = [
    "DeadLetter",
    "DeadLetterSink",
    "DecisionSink",
    "Message",
    "RebalancingSource",
    "Source",
]

TRANSACTIONS = "transactions"
LABELS = "labels"


@dataclass(slots=True)
class Message:
    """One raw message; `handle` is whatever the transport needs to commit it."""

    value: bytes
    topic: str = TRANSACTIONS
    key: bytes | None = None
    created_at: float | None = None  # wall-clock time the producer created it (end-to-end latency)
    handle: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    reason: str  # short and stable, for metrics: invalid_json, invalid_transaction, ...
    detail: str  # what exactly was wrong, for people


class Source(Protocol):
    """Where transactions (and labels) come from."""

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to `max_messages`, waiting at most `timeout` seconds for the first."""
        ...

    def commit(self, messages: Sequence[Message]) -> None:
        """The messages are fully processed: never deliver them again."""
        ...

    def lag(self) -> int | None:
        """Messages waiting, where the transport can tell."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RebalancingSource(Protocol):
    """A source whose partitions can be taken away (Kafka): the worker settles its batch first."""

    before_revoke: Callable[[], None] | None


class DecisionSink(Protocol):
    """Where decisions go besides the store (a topic)."""

    name: str

    def write(self, decisions: Sequence[tuple[Transaction, Decision]]) -> Pending[None]:
        """Send the decisions; the worker waits for the result before it commits them.

        A transport that waits for acknowledgements (Kafka) returns at once, so that the
        wait overlaps the next batch's work.
        """
        ...


class DeadLetterSink(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> None: ...
