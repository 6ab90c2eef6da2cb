"""The stream worker over the in-process transport: batches, dead letters, retries, commits."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraudstream.config import Settings
from fraudstream.decide.scorer import Scorer
from fraudstream.features import MemoryState
from fraudstream.model.artifact import Model
from fraudstream.pending import InFlight, Pending
from fraudstream.runtime import Runtime, build_runtime
from fraudstream.schema import Decision, Label, Transaction
from fraudstream.stream import LABELS, Backoff, MemoryDeadLetters, MemorySink, MemorySource

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)


def tx(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": f"w-{i}",
        "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        "customer_id": f"C{i % 3}",
        "amount": 10.0 + i,
        "currency": "USD",
        "merchant_id": "M1",
        "merchant_category": "grocery",
        "channel": "online",
        "device_id": "D1",
        **changes,
    }


@pytest.fixture
def runtime(trained_model: Model, tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(
        Settings(home=tmp_path, worker_batch_size=100, max_message_bytes=2_000),
        model=trained_model,
        state=MemoryState(),
        sinks=[MemorySink()],
    )
    runtime.workers[0].backoff = Backoff(first=0.001, sleep=lambda _: None)
    yield runtime
    runtime.stop()


def drain(runtime: Runtime) -> None:
    while runtime.workers[0].step():
        pass


def test_valid_messages_are_decided_bad_ones_dead_lettered(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    for i in range(5):
        source.put(tx(i))
    source.put(b"{nope")
    source.put(tx(5, amount="lots"))
    source.put(tx(6, currency="XXQ"))
    source.put(json.dumps(tx(7, merchant_category="x" * 3_000)))
    source.put(tx(8), topic="refunds")
    source.put(b"\xff\xfe")
    drain(runtime)
    assert source.committed == 11 and source.lag() == 0
    stored = runtime.service.store.decisions_for([f"w-{i}" for i in range(9)])
    assert set(stored) == {f"w-{i}" for i in range(5)}
    letters: MemoryDeadLetters = runtime.dead_letters  # type: ignore[assignment]
    reasons = [(letter.reason, letter.detail) for letter in letters.letters]
    assert [r for r, _ in reasons] == [
        "invalid_json",
        "invalid_transaction",
        "invalid_transaction",
        "too_large",
        "unknown_topic",
        "invalid_json",
    ]
    assert reasons[1][1].startswith("amount: Input should be a valid number")
    assert "currency" in reasons[2][1]
    sink: MemorySink = runtime.workers[0].sinks[0]  # type: ignore[assignment]
    assert [t.transaction_id for t, _ in sink.decisions] == [f"w-{i}" for i in range(5)]
    metrics = runtime.service.metrics.exposition().decode()
    assert 'fraudstream_dead_letters_total{reason="invalid_json"} 2.0' in metrics


def test_redelivery_and_duplicates_give_one_decision(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    for i in [0, 1, 1, 2]:
        source.put(tx(i))
    drain(runtime)
    first = runtime.service.store.decisions_for(["w-0", "w-1", "w-2"])
    state: MemoryState = runtime.service.scorer.engine.state  # type: ignore[assignment]
    row = state.row("customer", "C1")
    for i in [1, 0]:  # a redelivery after a crash
        source.put(tx(i))
    drain(runtime)
    assert runtime.service.store.decisions_for(["w-0", "w-1", "w-2"]) == first
    assert np.array_equal(state.row("customer", "C1"), row, equal_nan=True)  # not folded twice
    sink: MemorySink = runtime.workers[0].sinks[0]  # type: ignore[assignment]
    replayed = [d for t, d in sink.decisions if t.transaction_id == "w-1"]
    assert len({d.model_dump_json() for d in replayed}) == 1  # republished identically


def test_an_id_sent_again_with_another_payload_is_dead_lettered(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    source.put(tx(0))
    source.put(tx(1))
    source.put(tx(1, amount=500.0))  # within the batch
    drain(runtime)
    source.put(tx(0, customer_id="C9"))  # after it was decided
    source.put(tx(0))  # a plain redelivery
    source.put(tx(2))
    drain(runtime)
    letters: MemoryDeadLetters = runtime.dead_letters  # type: ignore[assignment]
    assert [(json.loads(letter.message.value)["transaction_id"], letter.reason) for letter in letters.letters] == [
        ("w-1", "conflicting_duplicate"),
        ("w-0", "conflicting_duplicate"),
    ]
    assert json.loads(letters.letters[1].message.value)["customer_id"] == "C9"
    sink: MemorySink = runtime.workers[0].sinks[0]  # type: ignore[assignment]
    published = [(t.transaction_id, t.customer_id, t.amount) for t, _ in sink.decisions]
    assert published == [("w-0", "C0", 10.0), ("w-1", "C1", 11.0), ("w-0", "C0", 10.0), ("w-2", "C2", 12.0)]
    stored = runtime.service.store.transactions_for(["w-0", "w-1"])
    assert (stored["w-0"].customer_id, stored["w-1"].amount) == ("C0", 11.0)
    assert source.committed == 6


def test_labels_on_the_stream(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    source.put(tx(0))
    source.put(
        {"transaction_id": "w-0", "is_fraud": True, "reported_at": T0.isoformat(), "source": "chargeback"}, LABELS
    )
    source.put({"transaction_id": "ghost", "is_fraud": True, "reported_at": T0.isoformat()}, LABELS)
    source.put({"transaction_id": "w-0", "is_fraud": "perhaps", "reported_at": T0.isoformat()}, LABELS)
    drain(runtime)
    stored = runtime.service.store.get("w-0")
    assert stored is not None and [label.source for label in stored.labels] == ["chargeback"]
    letters: MemoryDeadLetters = runtime.dead_letters  # type: ignore[assignment]
    assert sorted(letter.reason for letter in letters.letters) == ["invalid_label", "unknown_transaction"]


def test_messages_that_can_never_succeed_are_dead_lettered_and_the_rest_decided(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    bad = {
        "overflowing time": tx(90, timestamp="9999-12-31T23:59:59-01:00"),
        "before 2000": tx(91, timestamp="0001-01-01T00:00:00+01:00"),
        "ahead of the clock": tx(92, timestamp=(datetime.now(UTC) + timedelta(days=30)).isoformat()),
        "NUL in a name": tx(93, merchant_category="gro\u0000cery"),
        "zero-width id": tx(94, customer_id="C1\u200b"),
        "amount as text": tx(95, amount="12.5"),
    }
    for i in range(3):
        source.put(tx(i))
    for payload in bad.values():
        source.put(payload)
    source.put(tx(3))
    early = {"transaction_id": "w-3", "is_fraud": True, "reported_at": T0.isoformat()}  # w-3 is at T0 + 3 s
    source.put(early, LABELS)
    source.put({**early, "transaction_id": "w-0", "source": "chargeback\u0000"}, LABELS)
    source.put(tx(4))
    drain(runtime)
    assert source.lag() == 0 and source.committed == 3 + len(bad) + 1 + 2 + 1
    stored = runtime.service.store.decisions_for([f"w-{i}" for i in [*range(5), *range(90, 96)]])
    assert set(stored) == {f"w-{i}" for i in range(5)}
    letters: MemoryDeadLetters = runtime.dead_letters  # type: ignore[assignment]
    reasons = [letter.reason for letter in letters.letters]
    assert reasons == ["invalid_transaction"] * len(bad) + ["invalid_label", "reported_before_payment"]
    details = [letter.detail for letter in letters.letters]
    assert details[0].startswith("timestamp: Value error, is beyond the years")
    assert details[2].startswith("timestamp: Value error, is later than the clock allows")
    assert runtime.service.store.get("w-3").labels == []  # type: ignore[union-attr]


def test_what_the_database_refuses_is_isolated_and_dead_lettered_the_rest_decided(runtime: Runtime) -> None:
    # Rules of the database's own that validation does not know of: it refuses these rows
    # for what is in them, so no retry can succeed.
    with runtime.service.store.engine.begin() as connection:
        for table, column in (("transactions", "merchant_category"), ("labels", "source")):
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN NEW.{column} = 'refused' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    source: MemorySource = runtime.source  # type: ignore[assignment]
    for i in range(9):
        source.put(tx(i, merchant_category="refused") if i in (2, 7) else tx(i))
    for i in (0, 1, 3):
        source.put(
            {
                "transaction_id": f"w-{i}",
                "is_fraud": True,
                "reported_at": (T0 + timedelta(days=1)).isoformat(),
                "source": "refused" if i == 1 else "chargeback",
            },
            LABELS,
        )
    drain(runtime)
    assert source.committed == 12 and runtime.workers[0].alive is False  # drained by steps, not a thread
    stored = runtime.service.store.decisions_for([f"w-{i}" for i in range(9)])
    assert set(stored) == {f"w-{i}" for i in range(9) if i not in (2, 7)}
    letters: MemoryDeadLetters = runtime.dead_letters  # type: ignore[assignment]
    assert [(json.loads(letter.message.value)["transaction_id"], letter.reason) for letter in letters.letters] == [
        ("w-2", "rejected_by_store"),
        ("w-7", "rejected_by_store"),
        ("w-1", "rejected_by_store"),
    ]
    assert letters.letters[0].detail == "the database refused it (IntegrityError)"
    sink: MemorySink = runtime.workers[0].sinks[0]  # type: ignore[assignment]
    assert [t.transaction_id for t, _ in sink.decisions] == [f"w-{i}" for i in range(9) if i not in (2, 7)]
    assert [len(runtime.service.store.get(f"w-{i}").labels) for i in (0, 1, 3)] == [1, 0, 1]  # type: ignore[union-attr]
    # Folded once each, in order: the same state as the accepted events alone.
    accepted = {i: Transaction.model_validate(tx(i)) for i in range(9) if i not in (2, 7)}
    reference = Scorer(runtime.service.model, MemoryState())
    reference.score(list(accepted.values()))
    reported = T0 + timedelta(days=1)
    reference.learn(
        [(Label(transaction_id=f"w-{i}", is_fraud=True, reported_at=reported), accepted[i]) for i in (0, 3)]
    )
    state: MemoryState = runtime.service.scorer.engine.state  # type: ignore[assignment]
    for kind, entity in (("customer", "C0"), ("customer", "C1"), ("customer", "C2"), ("merchant", "M1")):
        assert np.array_equal(state.row(kind, entity), reference.engine.state.row(kind, entity), equal_nan=True)  # type: ignore[attr-defined]


def test_a_failing_store_is_retried_and_nothing_is_lost_or_doubled(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    store = runtime.service.store
    real_send = store.send_decisions
    failures = {"left": 3}

    def flaky(pairs: Any, received_at: Any = None) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("database briefly away")
        return real_send(pairs, received_at)

    store.send_decisions = flaky  # type: ignore[method-assign]
    for i in range(6):
        source.put(tx(i))
    worker = runtime.workers[0]
    assert worker.step() == 6
    assert failures["left"] == 0 and source.committed == 0  # decided; committed once settled
    worker.settle()
    assert source.committed == 6
    assert len(store.decisions_for([f"w-{i}" for i in range(6)])) == 6
    state: MemoryState = runtime.service.scorer.engine.state  # type: ignore[assignment]
    count_30d = runtime.service.model.features.names.index("customer_count_30d")
    probe = runtime.service.peek([Transaction.model_validate(tx(30, customer_id="C0"))])
    assert probe[0][count_30d] == 2  # w-0 and w-3, each folded once despite three failed attempts
    assert state.row("customer", "C0") is not None
    metrics = runtime.service.metrics.exposition().decode()
    assert 'fraudstream_sink_retries_total{sink="decide"} 3.0' in metrics


def test_stop_during_retries_commits_nothing(runtime: Runtime) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    worker = runtime.workers[0]

    def broken(pairs: Any, received_at: Any = None) -> Any:
        worker.stop.set()  # shut down while the database is away
        raise ConnectionError("down")

    runtime.service.store.send_decisions = broken  # type: ignore[method-assign]
    source.put(tx(0))
    with pytest.raises(ConnectionError):
        worker.step()
    assert source.committed == 0


class UnacknowledgedOnce(MemorySink):
    """A sink whose broker loses the first write: its settle fails, and the worker sends again."""

    def __init__(self) -> None:
        super().__init__()
        self.settles = 0

    def write(self, decisions: Sequence[tuple[Transaction, Decision]]) -> Pending[None]:
        super().write(decisions)

        def acknowledged() -> None:
            self.settles += 1
            if self.settles == 1:
                raise ConnectionError("no acknowledgement")

        return InFlight(acknowledged)


def test_a_batch_is_committed_only_once_its_sinks_acknowledged(trained_model: Model, tmp_path: Path) -> None:
    sink = UnacknowledgedOnce()
    runtime = build_runtime(Settings(home=tmp_path), model=trained_model, state=MemoryState(), sinks=[sink])
    worker = runtime.workers[0]
    worker.backoff = Backoff(first=0.001, sleep=lambda _: None)
    source: MemorySource = runtime.source  # type: ignore[assignment]
    for i in range(3):
        source.put(tx(i))
    assert worker.step() == 3
    assert sink.settles == 0 and source.committed == 0  # sent, not yet acknowledged nor committed
    drain(runtime)
    assert sink.settles == 2 and source.committed == 3
    sent = [d.model_dump_json() for _, d in sink.decisions]
    assert len(sent) == 6 and sent[:3] == sent[3:]  # sent again, the same decisions
    runtime.stop()


def test_the_next_batch_is_scored_while_one_is_stored_and_only_if_nothing_folds_between(
    runtime: Runtime, trained_model: Model
) -> None:
    source: MemorySource = runtime.source  # type: ignore[assignment]
    worker, service = runtime.workers[0], runtime.service
    worker.batch_size = 5  # every batch full: the worker is behind, and looks ahead
    scored: list[tuple[bool, np.ndarray]] = []  # (scored ahead, features) of each scoring
    prepare = service.scorer.prepare

    def recording(transactions: Sequence[Transaction], ahead: Any = None) -> Any:
        pending = prepare(transactions, ahead)
        scored.append((ahead is not None, pending.scored.features))
        return pending

    service.scorer.prepare = recording  # type: ignore[method-assign]
    for i in range(15):
        source.put(tx(i))
    assert worker.step() == 5
    assert [ahead for ahead, _ in scored] == [False, True]  # the second batch, while the first was stored
    label = Label(transaction_id="w-0", is_fraud=True, reported_at=T0 + timedelta(seconds=7))
    service.label([label])  # as the API would, between two steps: the batch scored ahead is stale
    assert worker.step() == 5
    assert [ahead for ahead, _ in scored] == [False, True, False, True]  # scored again; the third ahead
    drain(runtime)
    assert len(scored) == 4  # the third batch's scoring ahead stood
    samples = service.metrics.scored_ahead.collect()[0].samples
    counted = {s.labels["result"]: s.value for s in samples if s.name.endswith("_total")}
    assert counted == {"stale": 1.0, "used": 1.0}

    # The features and decisions of batches scored one after the other, the label between.
    reference = Scorer(trained_model, MemoryState())
    batches = [[Transaction.model_validate(tx(i)) for i in range(a, a + 5)] for a in (0, 5, 10)]
    expected = []
    for number, transactions in enumerate(batches):
        prepared = reference.prepare(transactions)
        reference.commit(prepared).wait()
        expected.append(prepared.scored)
        if number == 0:
            reference.learn([(label, transactions[0])])
    for (_, got), want in zip([scored[0], *scored[2:]], expected, strict=True):
        assert np.array_equal(got, want.features, equal_nan=True)
    assert not np.array_equal(scored[1][1], expected[1].features, equal_nan=True)  # the stale one would have differed
    stored = [service.store.get(f"w-{i}") for i in range(15)]
    assert [s.decision.score for s in stored if s is not None] == [float(x) for b in expected for x in b.scores]
