"""The policy a decision service decides with, kept in step with the database.

At a batch boundary the service calls `refresh`: at most once per `every` seconds it
asks the store for the ruleset version and the lists' change counter (one small query),
and reloads only what moved. A stored ruleset that no longer compiles (the model
changed) is logged and the one in force stays: decisions never stop for a rule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from fraudstream.rules.document import Rule, RulesetDocument, RulesetError
from fraudstream.rules.lists import tier_rules
from fraudstream.rules.policy import Lists, ListValues, Policy, compile_policy
from fraudstream.store.policies import PolicyStore

__all__ = ["PolicyInForce"]

log = logging.getLogger(__name__)


class PolicyInForce:
    def __init__(self, store: PolicyStore | None, feature_names: Sequence[str], every: float = 1.0) -> None:
        self.store = store
        self.feature_names = list(feature_names)
        self.every = every
        self.policy = Policy()
        self.lists: Lists = {}
        self.error: str | None = None  # why the latest stored ruleset is not in force
        self._revisions: tuple[int | None, int] | None = None
        self._checked = -float("inf")
        self._entries: dict[str, list[tuple[str, datetime | None]]] = {}
        self._kinds: dict[str, tuple[str, str | None]] = {}
        self._next_expiry: datetime | None = None
        self._lock = threading.Lock()  # the API refreshes after a change, beside the batches

    def refresh(self, force: bool = False) -> None:
        """Reload what changed in the store since the last look (see the module)."""
        if self.store is None:
            return
        with self._lock:
            self._refresh(force)

    def _refresh(self, force: bool) -> None:
        assert self.store is not None
        now = time.monotonic()
        if not force and now - self._checked < self.every:
            self._expire()
            return
        self._checked = now
        revisions = self.store.revisions()
        if revisions == self._revisions:
            self._expire()
            return
        lists_moved = self._revisions is None or revisions[1] != self._revisions[1]
        self._revisions = revisions
        if lists_moved:
            self._entries = self.store.all_entries()
            self._kinds = {info.name: (info.kind, info.action) for info in self.store.lists()}
            self._next_expiry = None
            self._expire(rebuild=True)
        self._compile(revisions[0])

    def use_features(self, feature_names: Sequence[str]) -> None:
        """Another model's features: the rules are compiled again against them at the next refresh."""
        with self._lock:
            self.feature_names = list(feature_names)
            self._revisions = None
            self._checked = -float("inf")

    def check(self, document: RulesetDocument) -> Policy:
        """Compile a ruleset (after the lists' tiers) against this model's features and the
        lists that exist; raises RulesetError."""
        known = None if self.store is None else {info.name for info in self.store.lists()}
        return compile_policy(document, self.feature_names, known_lists=known, tiers=self.tiers)

    def save(self, document: RulesetDocument, source: str, key_id: str | None = None) -> int:
        """Check a ruleset, store it as the new version and put it in force here (other
        processes follow at their next refresh); its version."""
        if self.store is None:
            raise RuntimeError("rules are kept in the database; this service has none")
        self.check(document)
        version = self.store.save_ruleset(document.model_dump(mode="json"), source, key_id)
        self.refresh(force=True)
        return version

    def save_if_changed(self, document: RulesetDocument, source: str, key_id: str | None = None) -> int:
        """`save`, unless the stored ruleset in force is the same (a restart with the same file, the
        same PUT twice); the version in force either way."""
        latest = None if self.store is None else self.store.ruleset()
        if latest is not None and RulesetDocument.model_validate(latest.document).canonical() == document.canonical():
            self.check(document)
            return latest.version
        return self.save(document, source, key_id)

    @property
    def tiers(self) -> list[Rule]:
        """The rules the lists with an action stand for (see `tier_rules`)."""
        return tier_rules((name, kind, action) for name, (kind, action) in sorted(self._kinds.items()))

    def _compile(self, version: int | None) -> None:
        stored = None if version is None or self.store is None else self.store.ruleset(version)
        document = RulesetDocument() if stored is None else RulesetDocument.model_validate(stored.document)
        try:
            self.policy = compile_policy(document, self.feature_names, version, tiers=self.tiers)
            self.error = None
        except RulesetError as exc:
            self.error = str(exc)
            log.error("ruleset %s is not in force (the one before stays): %s", version, exc)

    def _expire(self, rebuild: bool = False) -> None:
        """Drop entries whose expiry has passed (checked against the earliest one to come)."""
        now = datetime.now(UTC)
        if not rebuild and (self._next_expiry is None or now < self._next_expiry):
            return
        lists: dict[str, ListValues] = {}
        upcoming: list[datetime] = []
        for name, entries in self._entries.items():
            kind = self._kinds.get(name, ("", None))[0]
            live = frozenset(v for v, expires in entries if expires is None or expires > now)
            upcoming += [expires for _, expires in entries if expires is not None and expires > now]
            lists[name] = ListValues(live, prefix=kind == "prefix")
        self.lists = lists
        self._next_expiry = min(upcoming, default=None)
