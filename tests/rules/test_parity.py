"""The same rules fire alike live (the API's path and a stream worker's) and in a backtest of
the same history: one compiled policy, the same point-in-time features."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import pytest

from fraudstream.config import Settings
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.rules.backtest import backtest, replay
from fraudstream.rules.document import parse_ruleset
from fraudstream.runtime import Runtime, build_runtime
from fraudstream.schema import Label, Transaction
from fraudstream.simulate import World, WorldConfig
from fraudstream.stream.base import LABELS, TRANSACTIONS
from tests.conftest import ALL_INPUTS

RULES = parse_ruleset(
    """
rules:
  - {id: big, when: "amount > 300", action: review}
  - {id: far, when: "customer_distance_usual_km > 50 and not customer_first_transaction", action: block}
  - {id: online_new_device, when: "channel = 'online' and customer_new_device", action: {score_add: 0.2}}
  - {id: busy, when: "customer_count_24h >= 4", action: review, mode: shadow}
  - {id: known_fraud, when: "customer_known_frauds_7d > 0 or merchant_frauds_reported_7d >= 2", action: block}
  - {id: scored, when: "score > 0.3", action: review, mode: shadow}
  - {id: watched, when: "merchant_id in list('watched_merchants')", action: review}
  - {id: vip, when: "customer_id in list('vips')", action: allow}
"""
)
SCORE_EDGES = (0.3,)


@pytest.fixture(scope="module")
def small_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    return World(WorldConfig(customers=300, merchants=25, seed=5, fraud_rate=0.03)).generate(8)


def _records(transactions: pd.DataFrame, labels: pd.DataFrame) -> list[tuple[str, object]]:
    """Transactions and labels in the order a backtest processes them: by time, a label after a payment."""
    items = [
        (
            row["timestamp"],
            0,
            TRANSACTIONS,
            Transaction.model_validate({k: v for k, v in row.items() if v is not None and v == v}),
        )
        for row in transactions.to_dict("records")
    ]
    items += [
        (
            row["reported_at"],
            1,
            LABELS,
            Label(transaction_id=row["transaction_id"], is_fraud=bool(row["is_fraud"]), reported_at=row["reported_at"]),
        )
        for row in labels.to_dict("records")
    ]
    items.sort(key=lambda item: (item[0], item[1]))
    return [(topic, value) for _, _, topic, value in items]


def _prepare(runtime: Runtime, transactions: pd.DataFrame) -> None:
    policies = runtime.service.store.policies
    merchants = sorted(transactions["merchant_id"].unique())
    policies.create_list("watched_merchants", "merchant")
    policies.add_entries("watched_merchants", merchants[:3])
    policies.create_list("vips", "customer")
    policies.add_entries("vips", sorted(transactions["customer_id"].unique())[:20])
    runtime.service.rules.save(RULES, "test")


def _live_by_api(runtime: Runtime, records: list[tuple[str, object]]) -> None:
    service = runtime.service
    pending: list[Transaction] = []
    for topic, value in records:
        if topic == TRANSACTIONS:
            assert isinstance(value, Transaction)
            pending.append(value)
            if len(pending) < 64:
                continue
        if pending:
            service.decide(pending)
            pending = []
        if topic == LABELS:
            assert isinstance(value, Label)
            service.label([value])
    if pending:
        service.decide(pending)


def _live_by_stream(runtime: Runtime, records: list[tuple[str, object]]) -> None:
    source = runtime.source
    for topic, value in records:
        source.put(value.model_dump_json(), topic=topic)  # type: ignore[attr-defined]
    runtime.start()
    deadline = time.monotonic() + 120
    while runtime.workers[0].processed < len(records):
        assert time.monotonic() < deadline and runtime.workers_alive
        time.sleep(0.05)
    runtime.stop()


def test_rules_fire_alike_through_the_api_a_stream_worker_and_a_backtest(
    trained_model: Model, small_history: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    transactions, labels = small_history
    records = _records(transactions, labels)
    live: dict[str, dict[str, tuple[list[str], str, float]]] = {}
    for path, feed in (("api", _live_by_api), ("stream", _live_by_stream)):
        runtime = build_runtime(Settings(home=tmp_path / path), model=trained_model)
        _prepare(runtime, transactions)
        feed(runtime, records)
        ids = list(transactions["transaction_id"])
        decided = runtime.service.store.decisions_for(ids)
        assert len(decided) == len(ids)
        live[path] = {i: ([h.id for h in d.rules], str(d.outcome), d.score) for i, d in decided.items()}
        assert all(d.ruleset_version == 1 for d in decided.values())
        in_force = runtime.service.rules
        runtime.service.store.close()

    dataset = Dataset(transactions=transactions, labels=labels, inputs=ALL_INPUTS)
    policies = {"tested": in_force.policy}
    replayed = {}
    for part in replay(trained_model, dataset, policies, in_force.lists, chunk=2_000):
        verdicts = part.verdicts["tested"]
        for i, tx_id in enumerate(part.transaction_ids):
            replayed[tx_id] = ([h.id for h in verdicts.hits[i]], str(verdicts.outcomes[i]), float(part.scores[i]))
    assert set(replayed) == set(live["api"])

    compared = fired = 0
    thresholds = (trained_model.thresholds.review, trained_model.thresholds.decline)
    for tx_id, (hits, outcome, score) in replayed.items():
        assert math.isclose(score, live["api"][tx_id][2], abs_tol=1e-5)
        # Scores a hair from an edge may fall either side (compiled trees vs XGBoost's own predict).
        if any(abs(score - edge) < 1e-5 for edge in (*SCORE_EDGES, *thresholds)):
            continue
        assert live["api"][tx_id][:2] == live["stream"][tx_id][:2] == (hits, outcome), tx_id
        compared += 1
        fired += bool(hits)
    assert compared > 0.99 * len(replayed)
    every = {h for hits, _, _ in replayed.values() for h in hits}
    assert every == {"big", "far", "online_new_device", "busy", "known_fraud", "scored", "watched", "vip"}
    assert fired > 100

    result = backtest(trained_model, dataset, policies, "tested", in_force.lists)
    tallies = {r.id: r.hits for r in result.rules}
    assert tallies == {rule: sum(rule in hits for hits, _, _ in replayed.values()) for rule in tallies}
