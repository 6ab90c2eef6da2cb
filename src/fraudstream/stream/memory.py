"""The embedded transport: an in-process queue, for the demo, tests and single-process use."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from fraudstream.pending import DONE, Pending
from fraudstream.schema import Decision, Transaction
from fraudstream.stream.base import TRANSACTIONS, DeadLetter, Message

__all__ = ["MemoryDeadLetters", "MemorySink", "MemorySource"]

IDLE_WAIT = 0.1  # seconds


class MemorySource:
    """A bounded queue of messages; `put` blocks when the worker falls behind (back-pressure)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self._queue: queue.Queue[Message] = queue.Queue(maxsize)
        self.committed = 0
        self._lock = threading.Lock()

    def put(self, value: bytes | str | dict[str, Any], topic: str = TRANSACTIONS, key: bytes | None = None) -> None:
        if isinstance(value, dict):
            value = json.dumps(value)
        if isinstance(value, str):
            value = value.encode()
        self._queue.put(Message(value=value, topic=topic, key=key, created_at=time.time()))

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        # Without a timeout, only what has arrived. With one, wait a while: waiting for the
        # first message costs nothing when one comes, and a tight timeout only burns CPU
        # on an idle queue.
        try:
            first = self._queue.get(timeout=max(timeout, IDLE_WAIT)) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < max_messages:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def commit(self, messages: Sequence[Message]) -> None:
        with self._lock:
            self.committed += len(messages)

    def lag(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        pass


class MemorySink:
    """Decisions kept in a list (tests, benchmarks)."""

    name = "memory"

    def __init__(self) -> None:
        self.decisions: list[tuple[Transaction, Decision]] = []

    def write(self, decisions: Sequence[tuple[Transaction, Decision]]) -> Pending[None]:
        self.decisions.extend(decisions)
        return DONE


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def write(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)
