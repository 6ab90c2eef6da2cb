"""Writing decisions to PostgreSQL: a batch as one statement of arrays, sent without waiting."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from datetime import datetime
from itertools import repeat
from operator import attrgetter, is_, itemgetter
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine, Table

from fraudstream.pending import InFlight, Pending
from fraudstream.schema import Decision, Transaction
from fraudstream.store import pgarrays
from fraudstream.store.models import DECISIONS, TRANSACTIONS

__all__ = ["PostgresWriter"]


def _dump_json(model: type[BaseModel], field: str) -> Callable[[Any], bytes]:
    annotation = model.model_fields[field].annotation
    assert annotation is not None, f"{model.__name__}.{field} has no type"
    return TypeAdapter(annotation).dump_json


_EMPTY_JSON: dict[type, bytes] = {list: b"[]", dict: b"{}"}


def _json_texts(values: Sequence[Any], dump: Callable[[Any], bytes]) -> list[bytes | None]:
    """Each value's JSON, None for None. Empty lists and dicts (most rules and extras) are
    known texts, not serialised each time."""
    return [
        _EMPTY_JSON[type(v)] if not v and type(v) in _EMPTY_JSON else None if v is None else dump(v) for v in values
    ]


class _UnnestInsert:
    """PostgreSQL: a batch as one INSERT ... SELECT FROM unnest(one array per column).

    One statement per batch, where an executemany (pipelined by psycopg) runs one per
    row: the server parses, plans and executes it once, and the driver sends a few
    arrays in binary (see docs/benchmarks.md for what it saves, and what else was
    tried). The arrays are encoded by `pgarrays`, not by psycopg's per-element dumpers.
    """

    def __init__(
        self,
        engine: Engine,
        table: Table,
        model: type[BaseModel],
        json_columns: set[str],
        derived: Mapping[str, tuple[str, Callable[[Any], Any]]] | None = None,
    ) -> None:
        columns = list(table.columns)
        self.names = [c.name for c in columns]
        types = [c.type.compile(dialect=engine.dialect) for c in columns]
        self.encoders = [pgarrays.encoder_for(t) for t in types]
        # JSON serialised by the field's declared type, not by pydantic_core working out
        # each value's type.
        self.json = [_dump_json(model, c.name) if c.name in json_columns else None for c in columns]
        # A column is the field of that name, unless `derived` names the field it comes
        # from and how (a decision's timings).
        derived = derived or {}
        self.sources = [derived[name][0] if name in derived else name for name in self.names]
        self.derive = [derived[name][1] if name in derived else None for name in self.names]
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        key = ", ".join(c.name for c in table.primary_key.columns)
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(self.names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({key}) DO NOTHING"
        )

    def arrays(self, objects: Sequence[BaseModel], constants: Mapping[str, Any] | None = None) -> list[bytes]:
        """One array per column, straight from the models' fields (building row dicts
        first cost as much again); `constants` gives columns that hold one value for the
        batch.

        The fields are taken from every model's `__dict__` at once and transposed, in C,
        rather than by an attribute lookup per value. A column holding
        one object for the whole batch (a decision's time, model version and timings,
        shared by a scored batch) is encoded once and repeated: the check is by
        identity, so 0.0 and -0.0, equal but not the same, stay apart.
        """
        batch = constants or {}
        n = len(objects)
        wanted = list(dict.fromkeys(s for s in self.sources if s not in batch))
        fields: dict[str, Sequence[Any]] = {}
        if len(wanted) == 1:
            fields[wanted[0]] = [vars(o)[wanted[0]] for o in objects]
        elif wanted and objects:
            fields = dict(zip(wanted, zip(*map(itemgetter(*wanted), map(vars, objects)), strict=True), strict=True))
        out = []
        for name, source, derive, dump, encode in zip(
            self.names, self.sources, self.derive, self.json, self.encoders, strict=True
        ):
            values = [batch[name]] if name in batch else fields.get(source, ())
            one = name in batch or (n > 1 and all(map(is_, values, repeat(values[0]))))
            if one:
                values = values[:1]
            if derive is not None:
                values = list(map(derive, values))
            if dump is not None:
                values = _json_texts(values, dump)
            out.append(pgarrays.repeated(encode, values[0], n) if one else encode(values))
        return out

    def execute(self, connection: Any, objects: Sequence[Any], constants: Mapping[str, Any] | None = None) -> int:
        return int(connection.exec_driver_sql(self.sql, tuple(self.arrays(objects, constants))).rowcount)


#: Decision columns that are not fields of a `Decision`: the field each comes from, and how.
_DECISION_TIMINGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    name: ("timings", attrgetter(name)) for name in ("features_ms", "model_ms", "total_ms")
}


class PostgresWriter:
    """PostgreSQL: a batch of transactions and their decisions sent as one statement,
    without waiting for it.

    One data-modifying WITH (the transactions' INSERT, then the decisions' INSERT ...
    RETURNING the ids stored now) in autocommit: atomic as a single statement, one round
    trip, no BEGIN or COMMIT. It goes out in psycopg's pipeline mode on a connection of
    its own, so the caller works on while the server inserts; the `Pending` it returns
    collects the ids stored, or the error. One batch at a time: the decision service's
    lock sees to it.

    The connection stays in pipeline mode, with one cursor: leaving the mode after each
    batch sent a Sync of its own and waited for its reply.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.transactions = _UnnestInsert(engine, TRANSACTIONS, Transaction, {"extra"})
        self.decisions = _UnnestInsert(engine, DECISIONS, Decision, {"reasons", "rules"}, _DECISION_TIMINGS)
        self.sql = f"WITH stored AS ({self.transactions.sql}) {self.decisions.sql} RETURNING transaction_id"
        self._open: tuple[ExitStack, Any, Any] | None = None  # the connection's closer, its pipeline, cursor

    def _pipeline(self) -> tuple[Any, Any]:
        if self._open is None:
            stack = ExitStack()
            try:
                raw = self.engine.raw_connection()
                connection: Any = raw.driver_connection  # psycopg's
                raw.detach()  # never back to the pool: it stays in autocommit and pipeline mode
                stack.callback(raw.close)
                connection.autocommit = True
                pipeline = stack.enter_context(connection.pipeline())
                cursor = stack.enter_context(connection.cursor())
            except Exception:
                stack.close()
                raise
            self._open = (stack, pipeline, cursor)
        _, pipeline, cursor = self._open
        return pipeline, cursor

    def send(self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime) -> Pending[set[str]]:
        params = (
            *self.transactions.arrays([tx for tx, _ in pairs], {"received_at": received_at}),
            *self.decisions.arrays([d for _, d in pairs]),
        )
        try:
            pipeline, cursor = self._pipeline()
            cursor.execute(self.sql, params)  # on the wire; its result comes with the sync
        except Exception:
            self.close()
            raise

        def stored() -> set[str]:
            try:
                pipeline.sync()
                return {row[0] for row in cursor.fetchall()}
            except Exception:
                self.close()  # the connection's state is unknown: the next send opens another
                raise

        return InFlight(stored)

    def close(self) -> None:
        opened, self._open = self._open, None
        if opened is not None:
            with suppress(Exception):
                opened[0].close()

    def save_transactions(self, transactions: Sequence[Transaction], received_at: datetime) -> None:
        with self.engine.begin() as connection:
            self.transactions.execute(connection, transactions, {"received_at": received_at})
