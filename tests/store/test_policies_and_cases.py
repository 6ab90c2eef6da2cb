"""Rulesets, lists and cases on both databases: versions, the change counter, hits by window,
one open case per customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fraudstream.schema import Outcome, RuleHit
from fraudstream.store import Store
from fraudstream.store.models import CaseRow
from tests.store.test_repository import decision, store, tx  # noqa: F401 - the fixture runs on both

NOW = datetime.now(UTC)


def test_rulesets_are_versions_and_lists_bump_one_counter(store: Store) -> None:  # noqa: F811
    policies = store.policies
    assert policies.revisions() == (None, 0) and policies.ruleset() is None
    first = policies.save_ruleset({"rules": []}, "test")
    second = policies.save_ruleset({"rules": [{"id": "a"}]}, "file:x.yaml", key_id="abc")
    assert second > first and policies.ruleset().version == second  # type: ignore[union-attr]
    assert policies.ruleset(first).document == {"rules": []}  # type: ignore[union-attr]
    assert policies.create_list("devs", "device", "block") and not policies.create_list("devs", "device")
    assert policies.add_entries("devs", ["d1", "d2", "d1"], NOW + timedelta(days=1)) == 2
    assert policies.add_entries("devs", ["d2"], None, note="again") == 0  # updated: no expiry now
    policies.add_entries("devs", ["gone"], NOW - timedelta(seconds=1))
    assert [e.value for e in policies.entries("devs")] == ["d1", "d2"]
    assert len(policies.entries("devs", include_expired=True)) == 3
    assert policies.remove_entries("devs", ["d1", "nope"]) == 1
    version, lists = policies.revisions()
    assert version == second and lists == 5  # create, three adds, one remove
    assert {name: [v for v, _ in values] for name, values in policies.all_entries().items()} == {"devs": ["d2", "gone"]}


def test_rule_hits_are_counted_by_the_database_over_a_window(store: Store) -> None:  # noqa: F811
    fired = [RuleHit("big", "review", "live"), RuleHit("watch", "block", "shadow")]
    pairs = []
    for i, minutes in enumerate((-5, -30, -200, -3000)):
        t = tx(i)
        d = decision(t, Outcome.REVIEW)
        pairs.append(
            (t, d.model_copy(update={"rules": fired[: 1 + i % 2], "decided_at": NOW + timedelta(minutes=minutes)}))
        )
    store.save_decisions(pairs)
    assert store.policies.rule_hits(NOW - timedelta(hours=1)) == {("big", "live"): 2, ("watch", "shadow"): 1}
    assert store.policies.rule_hits(NOW - timedelta(days=1)) == {("big", "live"): 3, ("watch", "shadow"): 1}
    stored = store.decisions_for(["t1"])["t1"]
    assert stored.rules == fired


def test_one_case_per_customer_stays_open_whoever_syncs(store: Store) -> None:  # noqa: F811
    pairs = [
        (
            tx(i, customer=c),
            decision(tx(i, customer=c), outcome).model_copy(update={"decided_at": NOW + timedelta(seconds=i)}),
        )
        for i, (c, outcome) in enumerate(
            [("A", Outcome.REVIEW), ("A", Outcome.APPROVE), ("A", Outcome.REVIEW), ("B", Outcome.DECLINE)]
        )
    ]
    store.save_decisions(pairs)
    other = Store(store.url, migrate=False)  # another process looking at the same database
    try:
        assert store.cases.sync() == 1 and other.cases.sync() == 0  # B declined: not flagged by default
        cases = store.cases.find()
        assert [(c.customer_id, c.payments, c.status) for c in cases] == [("A", 2, "open")]
        # Two processes that both found A uncovered: the database keeps one open case.
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
            connection.execute(sa.insert(CaseRow).values(customer_id="A", status="open", opened_at=NOW, updated_at=NOW))
        other.cases.configure(["review", "decline"], 24)
        other.cases.sync()
        assert [c.customer_id for c in other.cases.find()] == ["B", "A"]
    finally:
        other.close()
