"""Cases: a customer's flagged payments, worked as one.

A case is opened for a customer when a flagged decision (outcome review, and decline if
configured) is not covered by any case: it then holds every flagged decision of that
customer from its `opened_at` until it closes. Cases are opened by `sync` (one query over
the flagged decisions since the last look) when they are read, not on the decision path,
so deciding costs nothing more; one case per customer stays open at a time, whichever
process syncs (a partial unique index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.store.models import CaseNoteRow, CaseRow, DecisionRow

__all__ = ["Case", "CaseNote", "CaseStateError", "CaseStore", "UnknownCaseError"]

STATUSES = ("open", "assigned", "closed")


class UnknownCaseError(LookupError):
    pass


class CaseStateError(ValueError):
    """A change a case in its state cannot take (e.g. a closed case assigned again)."""


@dataclass(frozen=True)
class CaseNote:
    author: str | None
    text: str
    created_at: datetime
    key_id: str | None


@dataclass(frozen=True)
class Case:
    id: int
    customer_id: str
    status: str
    assignee: str | None
    verdict: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    payments: int  # flagged decisions in the case
    max_score: float
    due_at: datetime

    def to_json(self, now: datetime) -> dict[str, Any]:
        end = self.closed_at or now
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "status": self.status,
            "assignee": self.assignee,
            "verdict": self.verdict,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "closed_at": self.closed_at,
            "payments": self.payments,
            "max_score": self.max_score,
            "age_hours": round((end - self.opened_at).total_seconds() / 3600, 2),
            "due_at": self.due_at,
            "overdue": self.closed_at is None and now > self.due_at,
        }


class CaseStore:
    def __init__(
        self, sessions: sessionmaker[Session], flagged: Sequence[str] = ("review",), sla_hours: float = 24
    ) -> None:
        self._sessions = sessions
        self.flagged = tuple(flagged)
        self.sla = timedelta(hours=sla_hours)
        self._synced_to: datetime | None = None  # flagged decisions before this are covered

    def configure(self, flagged: Sequence[str], sla_hours: float) -> None:
        """Which outcomes open cases, and the time a case may stay open."""
        self.flagged = tuple(flagged)
        self.sla = timedelta(hours=sla_hours)
        self._synced_to = None

    def sync(self) -> int:
        """Open a case for every customer with a flagged decision no case covers; how many opened."""
        now = datetime.now(UTC)
        covered = exists().where(
            CaseRow.customer_id == DecisionRow.customer_id,
            CaseRow.opened_at <= DecisionRow.decided_at,
            or_(CaseRow.closed_at.is_(None), DecisionRow.decided_at <= CaseRow.closed_at),
        )
        query = (
            select(DecisionRow.customer_id, func.min(DecisionRow.decided_at))
            .where(DecisionRow.outcome.in_(self.flagged), ~covered)
            .group_by(DecisionRow.customer_id)
        )
        if self._synced_to is not None:
            query = query.where(DecisionRow.decided_at >= self._synced_to)
        with self._sessions.begin() as session:
            uncovered = session.execute(query).all()
            if uncovered:
                dialect = session.get_bind().dialect.name
                insert = pg_insert if dialect == "postgresql" else sqlite_insert
                rows = [
                    {"customer_id": c, "status": "open", "opened_at": first, "updated_at": now}
                    for c, first in uncovered
                ]
                statement = insert(CaseRow).on_conflict_do_nothing(
                    index_elements=["customer_id"], index_where=CaseRow.closed_at.is_(None)
                )
                session.execute(statement, rows)
        # Decisions stored later may carry an earlier decided_at (a slow writer): look back a little.
        self._synced_to = now - timedelta(minutes=5)
        return len(uncovered)

    def _cases(self, session: Session, where: Any, limit: int = 1, before: int | None = None) -> list[Case]:
        members = and_(
            DecisionRow.customer_id == CaseRow.customer_id,
            DecisionRow.outcome.in_(self.flagged),
            DecisionRow.decided_at >= CaseRow.opened_at,
            or_(CaseRow.closed_at.is_(None), DecisionRow.decided_at <= CaseRow.closed_at),
        )
        payments = select(func.count()).where(members).correlate(CaseRow).scalar_subquery()
        top = select(func.max(DecisionRow.score)).where(members).correlate(CaseRow).scalar_subquery()
        query = select(CaseRow, payments, top).where(where)
        if before is not None:
            query = query.where(CaseRow.id < before)
        rows = session.execute(query.order_by(CaseRow.id.desc()).limit(limit)).all()
        return [
            Case(
                r.id,
                r.customer_id,
                r.status,
                r.assignee,
                r.verdict,
                r.opened_at,
                r.updated_at,
                r.closed_at,
                int(n or 0),
                float(score or 0.0),
                r.opened_at + self.sla,
            )
            for r, n, score in rows
        ]

    def find(
        self, status: str | None = None, assignee: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[Case]:
        """Cases, newest first (`before`: the last id of the previous page)."""
        self.sync()
        conditions = [CaseRow.status == status] if status else []
        if assignee:
            conditions.append(CaseRow.assignee == assignee)
        with self._sessions.begin() as session:
            return self._cases(session, and_(True, *conditions), limit, before)

    def get(self, case_id: int) -> Case:
        self.sync()
        with self._sessions.begin() as session:
            found = self._cases(session, CaseRow.id == case_id)
        if not found:
            raise UnknownCaseError(case_id)
        return found[0]

    def transaction_ids(self, case: Case) -> list[str]:
        """The case's flagged decisions' transactions, oldest first."""
        query = select(DecisionRow.transaction_id).where(
            DecisionRow.customer_id == case.customer_id,
            DecisionRow.outcome.in_(self.flagged),
            DecisionRow.decided_at >= case.opened_at,
        )
        if case.closed_at is not None:
            query = query.where(DecisionRow.decided_at <= case.closed_at)
        with self._sessions.begin() as session:
            return list(session.scalars(query.order_by(DecisionRow.decided_at, DecisionRow.transaction_id)))

    def assign(self, case_id: int, assignee: str | None) -> None:
        with self._sessions.begin() as session:
            row = session.get(CaseRow, case_id)
            if row is None:
                raise UnknownCaseError(case_id)
            if row.status == "closed":
                raise CaseStateError("the case is closed")
            row.assignee = assignee
            row.status = "assigned" if assignee else "open"
            row.updated_at = datetime.now(UTC)

    def close(self, case_id: int, verdict: str, at: datetime) -> None:
        """Close a case with its verdict; its payments are those flagged up to `at`."""
        with self._sessions.begin() as session:
            closed = session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id, CaseRow.closed_at.is_(None))
                .values(status="closed", verdict=verdict, closed_at=at, updated_at=at)
            )
            if not getattr(closed, "rowcount", 0):
                if session.get(CaseRow, case_id) is None:
                    raise UnknownCaseError(case_id)
                raise CaseStateError("the case is closed already")

    def add_note(self, case_id: int, text: str, author: str | None, key_id: str | None = None) -> CaseNote:
        note = CaseNote(author, text, datetime.now(UTC), key_id)
        with self._sessions.begin() as session:
            row = session.get(CaseRow, case_id)
            if row is None:
                raise UnknownCaseError(case_id)
            session.add(
                CaseNoteRow(case_id=case_id, author=author, text=text, created_at=note.created_at, key_id=key_id)
            )
            row.updated_at = note.created_at
        return note

    def notes(self, case_id: int) -> list[CaseNote]:
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(CaseNoteRow).where(CaseNoteRow.case_id == case_id).order_by(CaseNoteRow.id)
            ).all()
            return [CaseNote(r.author, r.text, r.created_at, r.key_id) for r in rows]
