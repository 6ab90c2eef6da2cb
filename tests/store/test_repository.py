"""One suite, two databases: SQLite and the local PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fraudstream.decide.batch import same_payload
from fraudstream.schema import Decision, Label, Outcome, Reason, Timings, Transaction
from fraudstream.store import Store, UnknownTransactionsError
from fraudstream.store.models import Base
from tests.services import postgres_schema

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'fraudstream.db'}")
        yield store
        store.close()
    else:
        with postgres_schema() as url:
            store = Store(url)
            yield store
            store.close()


def tx(i: int, customer: str = "C1", **extra: object) -> Transaction:
    return Transaction.model_validate(
        {
            "transaction_id": f"t{i}",
            "timestamp": T0 + timedelta(minutes=i),
            "customer_id": customer,
            "amount": 10.0 + i,
            "currency": "EUR",
            "merchant_id": "M1",
            "merchant_category": "grocery",
            "channel": "online",
            "latitude": 48.85,
            "longitude": 2.35,
            "extra": {"V1": 0.5},
            **extra,
        }
    )


def decision(t: Transaction, outcome: Outcome = Outcome.APPROVE, score: float = 0.1, minutes: int = 0) -> Decision:
    return Decision(
        transaction_id=t.transaction_id,
        customer_id=t.customer_id,
        score=score,
        outcome=outcome,
        reasons=[Reason(feature="amount", value=t.amount, contribution=0.3, text=f"amount {t.amount:.2f}")],
        model_version="m-1",
        decided_at=T0 + timedelta(minutes=minutes),
        timings=Timings(features_ms=0.1, model_ms=0.2, total_ms=0.4),
    )


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    store.migrate()  # running again is a no-op


def test_decisions_round_trip_and_are_idempotent(store: Store) -> None:
    pairs = [(tx(i), decision(tx(i), minutes=i)) for i in range(3)]
    assert store.save_decisions(pairs) == {"t0", "t1", "t2"}
    replay = [(tx(1), decision(tx(1), Outcome.DECLINE, 0.99))]  # a redelivery with a different verdict
    assert store.save_decisions(replay) == set()
    stored = store.decisions_for(["t0", "t1", "nope"])
    assert set(stored) == {"t0", "t1"}
    assert stored["t1"] == pairs[1][1]  # the first decision stands
    assert stored["t1"].decided_at.tzinfo is not None
    assert store.transactions_for(["t2"])["t2"] == tx(2)


def test_a_stored_transaction_reads_back_as_the_same_payload(store: Store) -> None:
    """Idempotency compares a re-sent transaction with the stored one: every value must
    come back exactly, or a plain redelivery would be refused as a conflict."""
    ist = timezone(timedelta(hours=5, minutes=30))
    sent = [
        tx(1, amount=0.1 + 0.2, latitude=-89.999999, longitude=179.123456789, extra={"V1": -0.0, "V2": 5e-324}),
        tx(2, timestamp=datetime(2026, 3, 1, 17, 31, 2, 999_999, tzinfo=ist), ip="2001:db8::1", country="IN"),
        tx(3, merchant_category="café ☕", terminal_id="T-ü", device_id="D1", extra={"V3": 123456789.12345679}),
        tx(4, latitude=None, longitude=None, extra={}),
    ]
    store.save_decisions([(t, decision(t)) for t in sent])
    back = store.transactions_for([t.transaction_id for t in sent])
    assert all(same_payload(back[t.transaction_id], t) for t in sent)
    assert not same_payload(back["t1"], tx(1, amount=0.3))


def test_get_with_labels_and_reviews(store: Store) -> None:
    t = tx(1)
    store.save_decisions([(t, decision(t, Outcome.REVIEW, 0.7))])
    label, new = store.review("t1", "fraud", analyst="ana", note="<b>called the customer</b>")
    assert new and label.is_fraud and label.source == "analyst"
    got = store.get("t1")
    assert got is not None and got.decision is not None
    assert got.transaction == t and got.decision.outcome == Outcome.REVIEW
    assert [lbl.is_fraud for lbl in got.labels] == [True]
    assert got.reviews[0].note == "<b>called the customer</b>"
    assert store.get("missing") is None
    with pytest.raises(UnknownTransactionsError):
        store.review("missing", "legit")


def test_labels_are_all_or_nothing_and_deduplicated(store: Store) -> None:
    store.save_decisions([(tx(1), decision(tx(1)))])
    chargeback = Label(transaction_id="t1", is_fraud=True, reported_at=T0 + timedelta(days=5), source="chargeback")
    assert store.add_labels([chargeback]) == [chargeback]
    assert store.add_labels([chargeback]) == []  # delivered twice, stored once
    with pytest.raises(UnknownTransactionsError, match="t9"):
        store.add_labels(
            [chargeback.model_copy(update={"source": "x"}), chargeback.model_copy(update={"transaction_id": "t9"})]
        )
    got = store.get("t1")
    assert got is not None and len(got.labels) == 1


def test_list_decisions_filters_and_pages(store: Store) -> None:
    outcomes = [Outcome.APPROVE, Outcome.REVIEW, Outcome.DECLINE]
    pairs = [
        (tx(i, customer=f"C{i % 2}"), decision(tx(i, customer=f"C{i % 2}"), outcomes[i % 3], minutes=i))
        for i in range(12)
    ]
    store.save_decisions(pairs)
    page, cursor = store.list_decisions(limit=5)
    assert [d.transaction_id for _, d in page] == ["t11", "t10", "t9", "t8", "t7"]
    seen = [d.transaction_id for _, d in page]
    while cursor:
        page, cursor = store.list_decisions(limit=5, cursor=cursor)
        seen += [d.transaction_id for _, d in page]
    assert sorted(seen) == sorted(f"t{i}" for i in range(12))
    reviews, _ = store.list_decisions(outcome=Outcome.REVIEW)
    assert {d.transaction_id for _, d in reviews} == {"t1", "t4", "t7", "t10"}
    mine, _ = store.list_decisions(customer_id="C0", since=T0 + timedelta(minutes=4), until=T0 + timedelta(minutes=9))
    assert {d.transaction_id for _, d in mine} == {"t4", "t6", "t8"}
    store.review("t4", "legit")
    queue, _ = store.list_decisions(outcome=Outcome.REVIEW, unresolved=True)
    assert {d.transaction_id for _, d in queue} == {"t1", "t7", "t10"}
    assert store.counts() == {"approve": 4, "review": 4, "decline": 4, "labels": 1}
    with pytest.raises(ValueError, match="invalid cursor"):
        store.list_decisions(cursor="!!")


def test_batched_writes(store: Store) -> None:
    pairs = [(tx(i, customer=f"C{i % 50}"), decision(tx(i, customer=f"C{i % 50}"), minutes=i)) for i in range(2_000)]
    assert len(store.save_decisions(pairs)) == 2_000
    assert store.counts()["approve"] == 2_000
    assert store.ping()


def test_a_batch_sharing_its_time_and_timings_keeps_each_rows_values(store: Store) -> None:
    # A scored batch shares one decision time, model version and timings: PostgreSQL's
    # path encodes such a column once. Equal but distinct values (0.0 and -0.0) are not shared.
    decided_at, timings = T0 + timedelta(hours=1), Timings(features_ms=0.5, model_ms=0.25, total_ms=1.0)
    txs = [tx(i, latitude=lat, longitude=-lat) for i, lat in enumerate([0.0, -0.0, 0.0])]
    pairs = [(t, decision(t).model_copy(update={"decided_at": decided_at, "timings": timings})) for t in txs]
    assert store.save_decisions(pairs) == {"t0", "t1", "t2"}
    stored = store.decisions_for(["t0", "t1", "t2"])
    assert [stored[t.transaction_id] for t in txs] == [d for _, d in pairs]
    if store.engine.dialect.name == "postgresql":  # SQLite's REAL has no -0.0
        back = store.transactions_for(["t0", "t1", "t2"])
        latitudes = [back[t.transaction_id].latitude for t in txs]
        assert [math.copysign(1.0, lat) for lat in latitudes if lat is not None] == [1.0, -1.0, 1.0]


def test_a_batch_after_the_database_dropped_the_connection_goes_through_a_new_one() -> None:
    # PostgreSQL's batches share one connection, held in pipeline mode between them.
    with postgres_schema() as url:
        store = Store(f"{url}&application_name=fs_dropped")
        admin = sa.create_engine(url)
        try:
            first = [(tx(i), decision(tx(i))) for i in range(3)]
            assert store.save_decisions(first) == {"t0", "t1", "t2"}
            with admin.begin() as c:
                killed = c.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"  # returns once it is gone
                        " WHERE application_name = 'fs_dropped' AND query LIKE 'WITH stored AS%'"
                    )
                ).scalars()
                assert list(killed) == [True]
            second = [(tx(i), decision(tx(i))) for i in range(3, 6)]
            with pytest.raises(psycopg.OperationalError):
                store.save_decisions(second)
            assert store.save_decisions(second) == {"t3", "t4", "t5"}  # as a worker's retry does
            assert set(store.decisions_for([f"t{i}" for i in range(6)])) == {f"t{i}" for i in range(6)}
        finally:
            store.close()
            admin.dispose()


def test_sqlite_commits_are_on_disk_before_they_return(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'durable.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
