"""Writing decisions to SQLite: the driver's own executemany, in one database transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite import insert

from fraudstream.pending import Done, Pending
from fraudstream.schema import Decision, Transaction
from fraudstream.store.models import DECISIONS, TRANSACTIONS

__all__ = ["SqliteWriter", "set_pragmas"]


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. FULL: every commit is on disk before it returns,
    # so a decision that was answered or published survives a power loss (NORMAL may lose
    # the last commits); see docs/benchmarks.md for what it costs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _json_text(value: Any) -> str:
    # pydantic's Rust encoder: much faster than json.dumps for a decision's reasons.
    return pydantic_core.to_json(value).decode()


class _DriverInsert:
    """An INSERT run by the driver's own executemany, with values made ready here.

    SQLAlchemy's per-value processing (type decorators, JSON, parameter dicts) was most
    of the write time; the statement is still SQLAlchemy's, compiled for the dialect.
    """

    def __init__(self, engine: Engine, statement: Any, json_columns: set[str], time_columns: set[str]) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup) if engine.dialect.positional else None
        self.sqlite = engine.dialect.name == "sqlite"
        # Only the JSON and time columns need converting: touching every value cost more
        # than the database's own work for the batch.
        self.converters: list[tuple[str, Callable[[Any], Any]]] = [(c, _json_text) for c in json_columns]
        self.converters += [(c, self._time) for c in time_columns]

    def _time(self, value: datetime) -> Any:
        if value.utcoffset():
            value = value.astimezone(UTC)
        # SQLAlchemy's SQLite DATETIME text, so that it reads back the same way.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def execute(self, connection: Any, rows: Sequence[dict[str, Any]]) -> int:
        ready = []
        for row in rows:
            row = dict(row)
            for column, convert in self.converters:
                value = row[column]
                if value is not None:
                    row[column] = convert(value)
            ready.append(row)
        params: list[Any] = [tuple(r[k] for k in self.order) for r in ready] if self.order else ready
        return int(connection.exec_driver_sql(self.sql, params).rowcount)


# Rows built by hand (SQLite): model_dump() costs more than the insert itself.
def _tx_row(tx: Transaction, received_at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": tx.transaction_id,
        "timestamp": tx.timestamp,
        "customer_id": tx.customer_id,
        "amount": tx.amount,
        "currency": tx.currency,
        "merchant_id": tx.merchant_id,
        "merchant_category": tx.merchant_category,
        "channel": tx.channel.value,
        "terminal_id": tx.terminal_id,
        "device_id": tx.device_id,
        "ip": tx.ip,
        "latitude": tx.latitude,
        "longitude": tx.longitude,
        "country": tx.country,
        "extra": tx.extra,
        "received_at": received_at,
    }


def _decision_row(d: Decision) -> dict[str, Any]:
    return {
        "transaction_id": d.transaction_id,
        "customer_id": d.customer_id,
        "score": d.score,
        "outcome": str(d.outcome),
        "reasons": [
            {"feature": r.feature, "value": r.value, "contribution": r.contribution, "text": r.text} for r in d.reasons
        ],
        "rules": [{"id": h.id, "action": h.action, "mode": h.mode} for h in d.rules],
        "ruleset_version": d.ruleset_version,
        "model_version": d.model_version,
        "decided_at": d.decided_at,
        "features_ms": d.timings.features_ms,
        "model_ms": d.timings.model_ms,
        "total_ms": d.timings.total_ms,
    }


class SqliteWriter:
    """Transactions and their decisions in one database transaction, written when sent."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Built once: generating a statement costs as much as running it on SQLite. No
        # RETURNING: then the driver batches the rows natively with executemany.
        transactions = insert(TRANSACTIONS).on_conflict_do_nothing(index_elements=["transaction_id"])
        decisions = insert(DECISIONS).on_conflict_do_nothing(index_elements=["transaction_id"])
        self._transactions = _DriverInsert(engine, transactions, {"extra"}, {"timestamp", "received_at"})
        self._decisions = _DriverInsert(engine, decisions, {"reasons", "rules"}, {"decided_at"})

    def send(self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime) -> Pending[set[str]]:
        return Done(self._save(pairs, received_at))

    def _save(self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime) -> set[str]:
        # SQLAlchemy Core, not the ORM: the ORM's bulk path was most of the write time.
        with self.engine.begin() as connection:
            self._transactions.execute(connection, [_tx_row(tx, received_at) for tx, _ in pairs])
            rows = [_decision_row(d) for _, d in pairs]
            inserted = self._decisions.execute(connection, rows)
            ids = [row["transaction_id"] for row in rows]
            if inserted == len(set(ids)):
                return set(ids)
            # Some were decided before (a replay): ours are the rows with our decision time.
            ours = {row["transaction_id"]: row["decided_at"] for row in rows}
            stored = connection.execute(
                select(DECISIONS.c.transaction_id, DECISIONS.c.decided_at).where(DECISIONS.c.transaction_id.in_(ids))
            )
            return {tx_id for tx_id, decided_at in stored if decided_at == ours[tx_id]}

    def save_transactions(self, transactions: Sequence[Transaction], received_at: datetime) -> None:
        with self.engine.begin() as connection:
            self._transactions.execute(connection, [_tx_row(tx, received_at) for tx in transactions])

    def close(self) -> None:
        pass
