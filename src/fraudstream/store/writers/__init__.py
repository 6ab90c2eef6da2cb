"""How a batch of decisions is written: one writer per database, behind one protocol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from fraudstream.pending import Pending
from fraudstream.schema import Decision, Transaction

__all__ = ["DecisionWriter", "writer_for"]


class DecisionWriter(Protocol):
    def send(self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime) -> Pending[set[str]]:
        """Store transactions with their decisions, atomically and idempotently; the ids stored now."""
        ...

    def save_transactions(self, transactions: Sequence[Transaction], received_at: datetime) -> None:
        """Store transactions without decisions; idempotent."""
        ...

    def close(self) -> None: ...


def writer_for(engine: Engine) -> DecisionWriter:
    if engine.dialect.name == "postgresql":
        from fraudstream.store.writers.postgres import PostgresWriter

        return PostgresWriter(engine)
    from fraudstream.store.writers.sqlite import SqliteWriter

    return SqliteWriter(engine)
