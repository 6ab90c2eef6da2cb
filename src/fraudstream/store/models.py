"""Database tables: transactions, their decisions, labels and analysts' reviews; the
rulesets and lists decisions are made with; cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "DECISIONS",
    "TRANSACTIONS",
    "Base",
    "CaseNoteRow",
    "CaseRow",
    "ChampionRow",
    "DecisionRow",
    "LabelRow",
    "ListEntryRow",
    "ListRow",
    "PolicyRevisionRow",
    "ReviewRow",
    "RulesetRow",
    "ShadowScoreRow",
    "TransactionRow",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("naive datetime: fraudstream stores UTC-aware times only")
        if offset:  # already UTC is the common case, and astimezone() is not free
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


ID = String(128)


class TransactionRow(Base):
    __tablename__ = "transactions"

    transaction_id: Mapped[str] = mapped_column(ID, primary_key=True)
    # No secondary indexes: decisions are looked up by their own columns, and every
    # index here would cost each of thousands of inserts a second.
    timestamp: Mapped[datetime]
    customer_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))
    merchant_id: Mapped[str] = mapped_column(ID)
    merchant_category: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    terminal_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    ip: Mapped[str | None] = mapped_column(String(45))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    country: Mapped[str | None] = mapped_column(String(2))
    extra: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_outcome_decided_at", "outcome", "decided_at"),)

    # No foreign key to transactions: both rows are written in one database transaction,
    # and the check was a large part of the database's time per batch (migration 0003).
    transaction_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    score: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]]
    rules: Mapped[list[Any]]
    ruleset_version: Mapped[int | None] = mapped_column(BigInteger)  # migration 0005
    model_version: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[datetime] = mapped_column(index=True)
    features_ms: Mapped[float] = mapped_column(Float)
    model_ms: Mapped[float] = mapped_column(Float)
    total_ms: Mapped[float] = mapped_column(Float)


class LabelRow(Base):
    __tablename__ = "labels"
    # The same report delivered twice is stored once.
    __table_args__ = (UniqueConstraint("transaction_id", "is_fraud", "source", name="uq_labels_report"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ID, ForeignKey("transactions.transaction_id"), index=True)
    is_fraud: Mapped[bool] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(index=True)
    scenario: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))  # the API key that gave it (migration 0004)


class ReviewRow(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ID, ForeignKey("transactions.transaction_id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    analyst: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    key_id: Mapped[str | None] = mapped_column(String(16))  # the API key that gave it (migration 0004)


class RulesetRow(Base):
    """Every version of the ruleset; the highest is in force."""

    __tablename__ = "rulesets"

    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(200))  # "api", or the file it was loaded from
    key_id: Mapped[str | None] = mapped_column(String(16))


class ListRow(Base):
    __tablename__ = "lists"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: allow or block: a tier of its own before the rules; None: used by rules only.
    action: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]


class ListEntryRow(Base):
    __tablename__ = "list_entries"

    list_name: Mapped[str] = mapped_column(String(64), ForeignKey("lists.name", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime | None]
    added_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(500))
    key_id: Mapped[str | None] = mapped_column(String(16))


class PolicyRevisionRow(Base):
    """One row counting changes to lists: workers reload lists when it moves."""

    __tablename__ = "policy_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lists: Mapped[int] = mapped_column(BigInteger)


class CaseRow(Base):
    """A customer's flagged payments worked as one case: open -> assigned -> closed with a verdict.

    A case holds the customer's flagged decisions made from `opened_at` until it closes; at
    most one case per customer is not closed (the partial unique index).
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_cases_one_open_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_cases_status_opened_at", "status", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))  # open | assigned | closed
    assignee: Mapped[str | None] = mapped_column(String(128))
    verdict: Mapped[str | None] = mapped_column(String(16))  # fraud | legit, once closed
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class CaseNoteRow(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    key_id: Mapped[str | None] = mapped_column(String(16))


class ChampionRow(Base):
    """Every promotion of a model version to champion, and every challenger set (`role`); the
    latest of each role is in force (a challenger of version "" is none)."""

    __tablename__ = "model_champions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # champion | challenger
    version: Mapped[str] = mapped_column(String(80))
    promoted_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str | None] = mapped_column(String(16))


class ShadowScoreRow(Base):
    """A challenger's score of a decided transaction: beside the champion's, never published."""

    __tablename__ = "shadow_scores"

    transaction_id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(index=True)


TRANSACTIONS: Table = TransactionRow.__table__  # type: ignore[assignment]
DECISIONS: Table = DecisionRow.__table__  # type: ignore[assignment]
