"""The decision store: one repository over SQLite (default) or PostgreSQL (by URL).

Writes are batched and idempotent: a transaction id is stored, and decided, once; a
replay writes nothing new and gets back what was decided the first time.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, and_, create_engine, event, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.pending import Done, Pending
from fraudstream.schema import Channel, Decision, Label, Outcome, Reason, RuleHit, Timings, Transaction, shortened
from fraudstream.store import pgarrays
from fraudstream.store.cases import CaseStore
from fraudstream.store.champions import ChampionStore
from fraudstream.store.models import DECISIONS, DecisionRow, LabelRow, ReviewRow, TransactionRow
from fraudstream.store.policies import PolicyStore
from fraudstream.store.writers import writer_for
from fraudstream.store.writers.sqlite import set_pragmas

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


def _listed(ids: Sequence[str]) -> str:
    """A few ids, each cut short: errors name what went wrong, never echo what a client sent at length."""
    shown = [shortened(i) for i in ids[:5]]
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
        rules=[RuleHit(**hit) for hit in row.rules if isinstance(hit, dict)],
        ruleset_version=row.ruleset_version,
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
            event.listen(self.engine, "connect", set_pragmas)
        else:
            event.listen(self.engine, "connect", lambda connection, _record: pgarrays.register(connection.adapters))
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = writer_for(self.engine)
        self.policies = PolicyStore(self._session)
        self.cases = CaseStore(self._session)
        self.champions = ChampionStore(self._session)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
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
        self._writer.close()
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
        return self._writer.send(pairs, received_at or datetime.now(UTC))

    def save_transactions(self, transactions: Sequence[Transaction], received_at: datetime | None = None) -> None:
        """Store transactions without decisions (history that labels may refer to); idempotent."""
        if not transactions:
            return
        self._writer.save_transactions(transactions, received_at or datetime.now(UTC))

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
