"""The decision store: one repository over SQLite (default) or PostgreSQL (by URL).

Writes are batched and idempotent: a transaction id is stored, and decided, once; a
replay writes nothing new and gets back what was decided the first time.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, is_, itemgetter
from pathlib import Path
from typing import Any

import pydantic_core
from alembic import command
from alembic.config import Config
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine, Table, and_, create_engine, event, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.pending import Done, InFlight, Pending
from fraudstream.schema import Channel, Decision, Label, Outcome, Reason, Timings, Transaction
from fraudstream.store import pgarrays
from fraudstream.store.models import DecisionRow, LabelRow, ReviewRow, TransactionRow

__all__ = [
    "LabelsBeforePaymentError",
    "Review",
    "Store",
    "StoredTransaction",
    "UnknownTransactionsError",
    "refused_for_data",
]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: The most of an id an error message repeats.
ECHOED_ID = 40
TRANSACTIONS: Table = TransactionRow.__table__  # type: ignore[assignment]
DECISIONS: Table = DecisionRow.__table__  # type: ignore[assignment]


def _listed(ids: Sequence[str]) -> str:
    """A few ids, each cut short: errors name what went wrong, never echo what a client sent at length."""
    shown = [i if len(i) <= ECHOED_ID else f"{i[:ECHOED_ID]}..." for i in ids[:5]]
    return ", ".join(shown) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


class UnknownTransactionsError(LookupError):
    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(f"unknown transactions: {_listed(ids)}")
        self.ids = list(ids)


class LabelsBeforePaymentError(ValueError):
    """Labels reported before the payment they label: a label cannot be known before it."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(f"reported before their transaction: {_listed(ids)}")
        self.ids = list(ids)


#: DB-API 2.0 gives every driver (and SQLAlchemy's wrappers) these class names for a
#: statement the database refuses because of the values in it: a retry cannot succeed.
_DATA_ERRORS = frozenset({"DataError", "IntegrityError"})


def refused_for_data(error: BaseException) -> bool:
    """Whether the database refused a write for what was in it, not for a passing fault."""
    return any(cls.__name__ in _DATA_ERRORS for cls in type(error).__mro__)


@dataclass(frozen=True)
class Review:
    transaction_id: str
    verdict: str
    analyst: str | None
    note: str | None
    created_at: datetime
    key_id: str | None = None  # the API key that gave it


@dataclass
class StoredTransaction:
    transaction: Transaction
    decision: Decision | None
    labels: list[Label] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    #: Per label (in order), the API key that gave it.
    label_keys: list[str | None] = field(default_factory=list)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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
    arrays in binary. Measured on 500-row batches: a quarter less of the server's time
    and a little less of the client's (one statement of a JSON array of the rows, for
    json_populate_recordset, was slower on both sides). The arrays are encoded by
    `pgarrays`, not by psycopg's per-element dumpers.
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


class _PostgresDecisions:
    """PostgreSQL: a batch of transactions and their decisions sent as one statement,
    without waiting for it.

    One data-modifying WITH (the transactions' INSERT, then the decisions' INSERT ...
    RETURNING the ids stored now) in autocommit: atomic as a single statement, one round
    trip, no BEGIN or COMMIT. It goes out in psycopg's pipeline mode on a connection of
    its own, so the caller works on while the server inserts; the `Pending` it returns
    collects the ids stored, or the error. One batch at a time: the decision service's lock sees to it.

    The connection stays in pipeline mode, with one cursor: leaving the mode after each
    batch sent a Sync of its own and waited for its reply.
    """

    def __init__(self, engine: Engine, transactions: _UnnestInsert, decisions: _UnnestInsert) -> None:
        self.engine = engine
        self.transactions = transactions
        self.decisions = decisions
        self.sql = f"WITH stored AS ({transactions.sql}) {decisions.sql} RETURNING transaction_id"
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


#: Decision columns that are not fields of a `Decision`: the field each comes from, and how.
_DECISION_TIMINGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    name: ("timings", attrgetter(name)) for name in ("features_ms", "model_ms", "total_ms")
}


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
        "rules": list(d.rules),
        "model_version": d.model_version,
        "decided_at": d.decided_at,
        "features_ms": d.timings.features_ms,
        "model_ms": d.timings.model_ms,
        "total_ms": d.timings.total_ms,
    }


def _transaction(row: TransactionRow) -> Transaction:
    return Transaction.model_construct(
        transaction_id=row.transaction_id,
        timestamp=row.timestamp,
        customer_id=row.customer_id,
        amount=row.amount,
        currency=row.currency,
        merchant_id=row.merchant_id,
        merchant_category=row.merchant_category,
        channel=Channel(row.channel),
        terminal_id=row.terminal_id,
        device_id=row.device_id,
        ip=row.ip,
        latitude=row.latitude,
        longitude=row.longitude,
        country=row.country,
        extra=dict(row.extra or {}),
    )


def _decision(row: Any) -> Decision:
    return Decision.model_construct(
        transaction_id=row.transaction_id,
        customer_id=row.customer_id,
        score=row.score,
        outcome=Outcome(row.outcome),
        reasons=[Reason(**r) for r in row.reasons],
        rules=list(row.rules),
        model_version=row.model_version,
        decided_at=row.decided_at,
        timings=Timings.model_construct(features_ms=row.features_ms, model_ms=row.model_ms, total_ms=row.total_ms),
    )


def _label(row: LabelRow) -> Label:
    return Label.model_construct(
        transaction_id=row.transaction_id,
        is_fraud=row.is_fraud,
        reported_at=row.reported_at,
        scenario=row.scenario,
        source=row.source,
    )


def _encode_cursor(decided_at: datetime, transaction_id: str) -> str:
    raw = json.dumps([decided_at.isoformat(), transaction_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, tx = json.loads(raw)
        return datetime.fromisoformat(when), str(tx)
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


class Store:
    """Transactions, decisions, labels and reviews; SQLite file or PostgreSQL."""

    def __init__(self, url: str, *, migrate: bool = True, echo: bool = False) -> None:
        self.url = url
        options: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            database = url.split("///", 1)[-1]
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"check_same_thread": False}
        self.engine: Engine = create_engine(url, **options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine, "connect", lambda connection, _record: pgarrays.register(connection.adapters))
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        # Built once: generating a statement costs as much as running it on SQLite.
        self._insert_transactions = insert(TRANSACTIONS).on_conflict_do_nothing(index_elements=["transaction_id"])
        # SQLite's path (PostgreSQL sends one statement, `_PostgresDecisions`). No
        # RETURNING: then the driver batches the rows natively with executemany.
        self._insert_decisions = insert(DECISIONS).on_conflict_do_nothing(index_elements=["transaction_id"])
        self._bulk_transactions = _DriverInsert(
            self.engine, self._insert_transactions, {"extra"}, {"timestamp", "received_at"}
        )
        self._postgres: _PostgresDecisions | None = None
        if self.engine.dialect.name == "postgresql":
            transactions = _UnnestInsert(self.engine, TRANSACTIONS, Transaction, {"extra"})
            decisions = _UnnestInsert(self.engine, DECISIONS, Decision, {"reasons", "rules"}, _DECISION_TIMINGS)
            self._postgres = _PostgresDecisions(self.engine, transactions, decisions)
        self._bulk_decisions = _DriverInsert(self.engine, self._insert_decisions, {"reasons", "rules"}, {"decided_at"})
        self._insert_labels = (
            insert(LabelRow)
            .on_conflict_do_nothing(index_elements=["transaction_id", "is_fraud", "source"])
            .returning(LabelRow.transaction_id, LabelRow.is_fraud, LabelRow.source)
        )
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as session:
            yield session

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means "not ready"
            log.warning("database unreachable", exc_info=True)
            return False

    # -- writes -------------------------------------------------------------------

    def save_decisions(
        self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime | None = None
    ) -> set[str]:
        """Store transactions with their decisions in one database transaction.

        Idempotent: ids already stored are left as they are. Returns the ids stored now.
        """
        return self.send_decisions(pairs, received_at).wait()

    def send_decisions(
        self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime | None = None
    ) -> Pending[set[str]]:
        """`save_decisions`, started: its result waits for it (PostgreSQL works meanwhile)."""
        if not pairs:
            return Done(set())
        received_at = received_at or datetime.now(UTC)
        if self._postgres is not None:
            return self._postgres.send(pairs, received_at)
        return Done(self._save_decisions(pairs, received_at))

    def _save_decisions(self, pairs: Sequence[tuple[Transaction, Decision]], received_at: datetime) -> set[str]:
        # SQLite. SQLAlchemy Core, not the ORM: the ORM's bulk path was most of the write time.
        with self.engine.begin() as connection:
            self._bulk_transactions.execute(connection, [_tx_row(tx, received_at) for tx, _ in pairs])
            rows = [_decision_row(d) for _, d in pairs]
            inserted = self._bulk_decisions.execute(connection, rows)
            ids = [row["transaction_id"] for row in rows]
            if inserted == len(set(ids)):
                return set(ids)
            # Some were decided before (a replay): ours are the rows with our decision time.
            ours = {row["transaction_id"]: row["decided_at"] for row in rows}
            stored = connection.execute(
                select(DECISIONS.c.transaction_id, DECISIONS.c.decided_at).where(DECISIONS.c.transaction_id.in_(ids))
            )
            return {tx_id for tx_id, decided_at in stored if decided_at == ours[tx_id]}

    def save_transactions(self, transactions: Sequence[Transaction], received_at: datetime | None = None) -> None:
        """Store transactions without decisions (history that labels may refer to); idempotent."""
        if not transactions:
            return
        received_at = received_at or datetime.now(UTC)
        with self.engine.begin() as connection:
            if self._postgres is not None:
                self._postgres.transactions.execute(connection, transactions, {"received_at": received_at})
            else:
                self._bulk_transactions.execute(connection, [_tx_row(tx, received_at) for tx in transactions])

    def add_labels(self, labels: Sequence[Label], key_id: str | None = None) -> list[Label]:
        """Store labels (given with API key `key_id`, if any); all or nothing. Returns the ones not stored before."""
        if not labels:
            return []
        ids = sorted({label.transaction_id for label in labels})
        with self.session() as session:
            query = select(TransactionRow.transaction_id, TransactionRow.timestamp)
            paid: dict[str, datetime] = dict(session.execute(query.where(TransactionRow.transaction_id.in_(ids))).all())
            unknown = [i for i in ids if i not in paid]
            if unknown:
                raise UnknownTransactionsError(unknown)
            early = sorted({label.transaction_id for label in labels if label.reported_at < paid[label.transaction_id]})
            if early:
                raise LabelsBeforePaymentError(early)
            rows = [
                {
                    "transaction_id": label.transaction_id,
                    "is_fraud": label.is_fraud,
                    "reported_at": label.reported_at,
                    "scenario": label.scenario,
                    "source": label.source or "api",
                    "key_id": key_id,
                }
                for label in labels
            ]
            result = session.execute(self._insert_labels, rows)
            new = {(r.transaction_id, r.is_fraud, r.source) for r in result}
        return [label for label in labels if (label.transaction_id, label.is_fraud, label.source or "api") in new]

    def review(
        self,
        transaction_id: str,
        verdict: str,
        analyst: str | None = None,
        note: str | None = None,
        key_id: str | None = None,
    ) -> tuple[Label, bool]:
        """Record an analyst's verdict and the label it implies; returns (label, label was new)."""
        now = datetime.now(UTC)
        with self.session() as session:
            if session.get(TransactionRow, transaction_id) is None:
                raise UnknownTransactionsError([transaction_id])
            session.add(
                ReviewRow(
                    transaction_id=transaction_id,
                    verdict=verdict,
                    analyst=analyst,
                    note=note,
                    created_at=now,
                    key_id=key_id,
                )
            )
        label = Label(transaction_id=transaction_id, is_fraud=verdict == "fraud", reported_at=now, source="analyst")
        return label, bool(self.add_labels([label], key_id))

    # -- reads --------------------------------------------------------------------

    def decisions_for(self, ids: Sequence[str]) -> dict[str, Decision]:
        """Stored decisions of these transactions (the idempotence check of every batch)."""
        if not ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(select(DECISIONS).where(DECISIONS.c.transaction_id.in_(list(ids))))
            return {row.transaction_id: _decision(row) for row in rows}

    def transactions_for(self, ids: Sequence[str]) -> dict[str, Transaction]:
        if not ids:
            return {}
        with self.session() as session:
            rows = session.scalars(select(TransactionRow).where(TransactionRow.transaction_id.in_(list(ids))))
            return {row.transaction_id: _transaction(row) for row in rows}

    def get(self, transaction_id: str) -> StoredTransaction | None:
        with self.session() as session:
            tx = session.get(TransactionRow, transaction_id)
            if tx is None:
                return None
            decision = session.get(DecisionRow, transaction_id)
            labels = session.scalars(
                select(LabelRow).where(LabelRow.transaction_id == transaction_id).order_by(LabelRow.reported_at)
            ).all()
            reviews = session.scalars(
                select(ReviewRow).where(ReviewRow.transaction_id == transaction_id).order_by(ReviewRow.created_at)
            )
            return StoredTransaction(
                transaction=_transaction(tx),
                decision=_decision(decision) if decision else None,
                labels=[_label(row) for row in labels],
                reviews=[
                    Review(r.transaction_id, r.verdict, r.analyst, r.note, r.created_at, r.key_id) for r in reviews
                ],
                label_keys=[row.key_id for row in labels],
            )

    def list_decisions(
        self,
        *,
        outcome: Outcome | None = None,
        customer_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        unresolved: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[tuple[Transaction, Decision]], str | None]:
        """Newest first, keyset-paginated: pass the returned cursor to get the next page."""
        query = select(TransactionRow, DecisionRow).join(
            DecisionRow, DecisionRow.transaction_id == TransactionRow.transaction_id
        )
        if outcome is not None:
            query = query.where(DecisionRow.outcome == str(outcome))
        if customer_id is not None:
            query = query.where(DecisionRow.customer_id == customer_id)
        if since is not None:
            query = query.where(DecisionRow.decided_at >= since)
        if until is not None:
            query = query.where(DecisionRow.decided_at < until)
        if unresolved:
            query = query.where(
                ~exists().where(LabelRow.transaction_id == DecisionRow.transaction_id),
                ~exists().where(ReviewRow.transaction_id == DecisionRow.transaction_id),
            )
        if cursor:
            when, tx_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    DecisionRow.decided_at < when,
                    and_(DecisionRow.decided_at == when, DecisionRow.transaction_id < tx_id),
                )
            )
        query = query.order_by(DecisionRow.decided_at.desc(), DecisionRow.transaction_id.desc()).limit(limit + 1)
        with self.session() as session:
            rows = session.execute(query).all()
        page = [(_transaction(tx), _decision(d)) for tx, d in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1][1]
            next_cursor = _encode_cursor(last.decided_at, last.transaction_id)
        return page, next_cursor

    def counts(self) -> dict[str, int]:
        with self.session() as session:
            by_outcome = dict(
                session.execute(select(DecisionRow.outcome, func.count()).group_by(DecisionRow.outcome)).all()
            )
            labels = session.scalar(select(func.count()).select_from(LabelRow)) or 0
        return {**{str(k): int(v) for k, v in by_outcome.items()}, "labels": int(labels)}
