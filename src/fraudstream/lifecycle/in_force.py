"""The models a process serves: the champion when it follows it, and the challenger it scores in
shadow. At a batch boundary, at most once per `every` seconds, it asks the database which
versions they are and, if others, loads them from the registry. A version that cannot be loaded
is logged and the one in force stays."""

from __future__ import annotations

import logging
import time

from fraudstream.lifecycle.registry import Registry
from fraudstream.lifecycle.shadow import Challenger, ChallengerMismatchError
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.store.champions import ChampionStore

__all__ = ["ChallengerInForce", "ModelInForce"]

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


class ChallengerInForce:
    """The challenger a process scores in shadow, kept in step with the database like the champion."""

    def __init__(self, registry: Registry, champions: ChampionStore, every: float = 1.0) -> None:
        self.registry = registry
        self.champions = champions
        self.every = every
        self.challenger: Challenger | None = None
        self.error: str | None = None
        self._version: str | None = None
        self._champion: str | None = None
        self._checked = -float("inf")

    def refresh(self, champion: Model, force: bool = False) -> Challenger | None:
        """The challenger to score with now (None: none); loaded again when it or the champion changed."""
        now = time.monotonic()
        if not force and now - self._checked < self.every:
            return self.challenger
        self._checked = now
        version = self.champions.challenger()
        if (version, champion.version) == (self._version, self._champion):
            return self.challenger
        self._version, self._champion, self.challenger, self.error = version, champion.version, None, None
        if version is None:
            return None
        if version == champion.version:
            self.error = f"challenger {version} is the champion now: nothing to compare"
            return None
        try:
            self.challenger = Challenger(self.registry.load(version), champion)
        except (ModelLoadError, LookupError, OSError, ChallengerMismatchError) as exc:
            self.error = f"challenger {version} is not scored: {exc}"
            log.error("%s", self.error)
        return self.challenger
