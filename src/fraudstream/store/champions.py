"""Which registered model version is the champion: a history of promotions in the database,
so that every process (the API, each stream worker, on any machine) sees the same one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.store.models import ChampionRow

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

    def promote(self, version: str, reason: str, key_id: str | None = None) -> Promotion:
        promotion = Promotion(version, datetime.now(UTC), reason[:500], key_id)
        with self._sessions.begin() as session:
            session.add(
                ChampionRow(version=version, promoted_at=promotion.promoted_at, reason=promotion.reason, key_id=key_id)
            )
        return promotion

    def history(self, limit: int = 50) -> list[Promotion]:
        """Promotions, latest first: the first is the champion."""
        with self._sessions.begin() as session:
            rows = session.scalars(select(ChampionRow).order_by(ChampionRow.id.desc()).limit(limit)).all()
            return [Promotion(r.version, r.promoted_at, r.reason, r.key_id) for r in rows]

    def champion(self) -> str | None:
        latest = self.history(1)
        return latest[0].version if latest else None
