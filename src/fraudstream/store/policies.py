"""Rulesets and lists in the database: what every API process and stream worker decides with.

A ruleset is saved as a new version (the highest is in force); a list change bumps one
counter. A worker asks for both numbers at a batch boundary and reloads only what moved,
so a change reaches every process without a restart or a message bus of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.store.models import ListEntryRow, ListRow, PolicyRevisionRow, RulesetRow

__all__ = ["ListEntry", "ListInfo", "PolicyStore", "StoredRuleset", "UnknownListError"]


class UnknownListError(LookupError):
    pass


@dataclass(frozen=True)
class StoredRuleset:
    version: int
    document: dict[str, Any]
    created_at: datetime
    source: str
    key_id: str | None


@dataclass(frozen=True)
class ListInfo:
    name: str
    kind: str
    action: str | None
    description: str
    created_at: datetime
    entries: int  # in force now


@dataclass(frozen=True)
class ListEntry:
    value: str
    expires_at: datetime | None
    added_at: datetime
    note: str | None
    key_id: str | None


class PolicyStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- rulesets -----------------------------------------------------------------

    def save_ruleset(self, document: dict[str, Any], source: str, key_id: str | None = None) -> int:
        with self._sessions.begin() as session:
            row = RulesetRow(document=document, created_at=datetime.now(UTC), source=source[:200], key_id=key_id)
            session.add(row)
            session.flush()
            return int(row.version)

    def ruleset(self, version: int | None = None) -> StoredRuleset | None:
        """The ruleset in force (the latest), or the given version; None if there is none."""
        with self._sessions.begin() as session:
            query = select(RulesetRow)
            query = (
                query.where(RulesetRow.version == version)
                if version is not None
                else query.order_by(RulesetRow.version.desc())
            )
            row = session.scalars(query.limit(1)).first()
            if row is None:
                return None
            return StoredRuleset(int(row.version), dict(row.document), row.created_at, row.source, row.key_id)

    def revisions(self) -> tuple[int | None, int]:
        """(the ruleset version in force, the lists' change counter): one cheap query."""
        with self._sessions.begin() as session:
            latest = select(func.max(RulesetRow.version)).scalar_subquery()
            row = session.execute(select(latest, PolicyRevisionRow.lists).where(PolicyRevisionRow.id == 1)).first()
            if row is None:
                return None, 0
            return (None if row[0] is None else int(row[0])), int(row[1])

    def rule_hits(self, since: datetime) -> dict[tuple[str, str], int]:
        """Decisions made since `since` that each rule fired on, by (rule id, mode): counted
        by the database over the decisions' JSON."""
        with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                sql = (
                    "SELECT hit->>'id', hit->>'mode', count(*) FROM decisions, json_array_elements(rules) AS hit "
                    "WHERE decided_at >= :since GROUP BY 1, 2"
                )
                values: dict[str, Any] = {"since": since}
            else:
                sql = (
                    "SELECT json_extract(hit.value, '$.id'), json_extract(hit.value, '$.mode'), count(*) "
                    "FROM decisions, json_each(decisions.rules) AS hit WHERE decided_at >= :since GROUP BY 1, 2"
                )
                # As SQLAlchemy writes a time on SQLite: UTC, naive, with microseconds.
                values = {"since": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")}
            return {(str(rule), str(mode)): int(n) for rule, mode, n in session.execute(text(sql), values)}

    # -- lists --------------------------------------------------------------------

    def lists(self, now: datetime | None = None) -> list[ListInfo]:
        now = now or datetime.now(UTC)
        with self._sessions.begin() as session:
            counts = dict(
                session.execute(
                    select(ListEntryRow.list_name, func.count())
                    .where((ListEntryRow.expires_at.is_(None)) | (ListEntryRow.expires_at > now))
                    .group_by(ListEntryRow.list_name)
                ).all()
            )
            rows = session.scalars(select(ListRow).order_by(ListRow.name)).all()
            return [
                ListInfo(r.name, r.kind, r.action, r.description, r.created_at, int(counts.get(r.name, 0)))
                for r in rows
            ]

    def list_info(self, name: str) -> ListInfo | None:
        return next((info for info in self.lists() if info.name == name), None)

    def create_list(self, name: str, kind: str, action: str | None = None, description: str = "") -> bool:
        """Create a list if there is none of this name; True if created."""
        with self._sessions.begin() as session:
            if session.get(ListRow, name) is not None:
                return False
            session.add(ListRow(name=name, kind=kind, action=action, description=description, created_at=_now()))
            _bump(session)
            return True

    def set_action(self, name: str, action: str | None) -> None:
        """Make a list an allow or block tier (or rules-only, with None)."""
        with self._sessions.begin() as session:
            row = session.get(ListRow, name)
            if row is None:
                raise UnknownListError(name)
            if row.action != action:
                row.action = action
                _bump(session)

    def add_entries(
        self,
        name: str,
        values: Sequence[str],
        expires_at: datetime | None = None,
        note: str | None = None,
        key_id: str | None = None,
    ) -> int:
        """Add values (one already there gets the new expiry and note); how many were new."""
        with self._sessions.begin() as session:
            if session.get(ListRow, name) is None:
                raise UnknownListError(name)
            existing = {
                row.value: row
                for row in session.scalars(
                    select(ListEntryRow).where(ListEntryRow.list_name == name, ListEntryRow.value.in_(set(values)))
                )
            }
            new = 0
            for value in dict.fromkeys(values):
                row = existing.get(value)
                if row is None:
                    row = ListEntryRow(list_name=name, value=value, added_at=_now())
                    session.add(row)
                    new += 1
                row.expires_at, row.note, row.key_id = expires_at, note, key_id
            _bump(session)
            return new

    def remove_entries(self, name: str, values: Sequence[str]) -> int:
        with self._sessions.begin() as session:
            if session.get(ListRow, name) is None:
                raise UnknownListError(name)
            result = session.execute(
                delete(ListEntryRow).where(ListEntryRow.list_name == name, ListEntryRow.value.in_(set(values)))
            )
            _bump(session)
            return int(getattr(result, "rowcount", 0) or 0)

    def entries(self, name: str, now: datetime | None = None, include_expired: bool = False) -> list[ListEntry]:
        now = now or datetime.now(UTC)
        with self._sessions.begin() as session:
            if session.get(ListRow, name) is None:
                raise UnknownListError(name)
            query = select(ListEntryRow).where(ListEntryRow.list_name == name).order_by(ListEntryRow.value)
            if not include_expired:
                query = query.where((ListEntryRow.expires_at.is_(None)) | (ListEntryRow.expires_at > now))
            return [
                ListEntry(r.value, r.expires_at, r.added_at, r.note, r.key_id) for r in session.scalars(query).all()
            ]

    def all_entries(self) -> dict[str, list[tuple[str, datetime | None]]]:
        """Every list's values with their expiry (expired ones included: the caller drops
        them as time passes), for a worker's cache."""
        with self._sessions.begin() as session:
            found: dict[str, list[tuple[str, datetime | None]]] = {
                name: [] for name in session.scalars(select(ListRow.name))
            }
            for name, value, expires in session.execute(
                select(ListEntryRow.list_name, ListEntryRow.value, ListEntryRow.expires_at)
            ):
                found[name].append((value, expires))
            return found


def _now() -> datetime:
    return datetime.now(UTC)


def _bump(session: Session) -> None:
    session.execute(
        update(PolicyRevisionRow).where(PolicyRevisionRow.id == 1).values(lists=PolicyRevisionRow.lists + 1)
    )
