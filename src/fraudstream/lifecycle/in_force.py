"""The model a process serves when it follows the champion: at a batch boundary, at most once per
`every` seconds, it asks the database which version is the champion and, if another, loads it
from the registry. A version that cannot be loaded is logged and the one in force stays."""

from __future__ import annotations

import logging
import time

from fraudstream.lifecycle.registry import Registry
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.store.champions import ChampionStore

__all__ = ["ModelInForce"]

log = logging.getLogger(__name__)


class ModelInForce:
    def __init__(self, registry: Registry, champions: ChampionStore, version: str, every: float = 1.0) -> None:
        self.registry = registry
        self.champions = champions
        self.version = version
        self.every = every
        self.error: str | None = None  # why the champion is not in force here, if it is not
        self._checked = -float("inf")
        self._refused: str | None = None  # a champion that failed to load: not tried again each second

    def refresh(self, force: bool = False) -> Model | None:
        """The champion's model if it changed since the last look (None: keep the one in force)."""
        now = time.monotonic()
        if not force and now - self._checked < self.every:
            return None
        self._checked = now
        champion = self.champions.champion()
        if champion is None or champion in (self.version, self._refused):
            return None
        try:
            model = self.registry.load(champion)
        except (ModelLoadError, LookupError, OSError) as exc:
            self._refused, self.error = champion, f"champion {champion} could not be loaded: {exc}"
            log.error("%s; %s stays in force", self.error, self.version)
            return None
        self.version, self._refused, self.error = champion, None, None
        log.info("model %s in force (the champion)", champion)
        return model
