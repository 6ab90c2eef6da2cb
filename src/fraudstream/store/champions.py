"""Which registered model version is the champion, and which the challenger: a history of
promotions in the database, so that every process (the API, each stream worker, on any machine)
sees the same ones; and the challenger's shadow scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.store.models import ChampionRow, ShadowScoreRow

__all__ = ["ChampionStore", "Promotion"]


@dataclass(frozen=True)
class Promotion:
    version: str
    promoted_at: datetime
    reason: str
    key_id: str | None


class ChampionStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def promote(self, version: str, reason: str, key_id: str | None = None, role: str = "champion") -> Promotion:
        promotion = Promotion(version, datetime.now(UTC), reason[:500], key_id)
        with self._sessions.begin() as session:
            session.add(
                ChampionRow(
                    role=role,
                    version=version,
                    promoted_at=promotion.promoted_at,
                    reason=promotion.reason,
                    key_id=key_id,
                )
            )
        return promotion

    def history(self, limit: int = 50, role: str = "champion") -> list[Promotion]:
        """Promotions, latest first: the first is the one in force."""
        with self._sessions.begin() as session:
            query = select(ChampionRow).where(ChampionRow.role == role).order_by(ChampionRow.id.desc()).limit(limit)
            return [Promotion(r.version, r.promoted_at, r.reason, r.key_id) for r in session.scalars(query).all()]

    def champion(self) -> str | None:
        latest = self.history(1)
        return latest[0].version if latest else None

    def rollback_target(self) -> tuple[str | None, str | None]:
        """(the champion, the one a rollback returns to): promotions replayed as a stack, where a
        rollback takes the rolled-back version off, so rolling back twice goes two steps back."""
        stack: list[str] = []
        for promotion in reversed(self.history(10_000)):
            if promotion.reason.startswith("rollback from ") and stack:
                stack.pop()
                if not stack or stack[-1] != promotion.version:
                    stack.append(promotion.version)
            else:
                stack.append(promotion.version)
        distinct = [v for i, v in enumerate(stack) if i == 0 or v != stack[i - 1]]
        return (distinct[-1] if distinct else None), (distinct[-2] if len(distinct) > 1 else None)

    def challenger(self) -> str | None:
        latest = self.history(1, role="challenger")
        return latest[0].version or None if latest else None

    def set_challenger(self, version: str | None, reason: str, key_id: str | None = None) -> None:
        """Score every batch in shadow with `version` too (None: no challenger)."""
        self.promote(version or "", reason, key_id, role="challenger")

    def save_shadow(self, rows: Sequence[dict[str, Any]]) -> None:
        """Challenger scores (transaction_id, version, score, outcome, decided_at); one per pair."""
        if not rows:
            return
        with self._sessions.begin() as session:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(insert(ShadowScoreRow).on_conflict_do_nothing(), list(rows))
