"""Kafka in, Kafka out, Redis state, PostgreSQL decisions: delivery, dead letters, outages, scale-out."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from redis import Redis

from fraudstream.features.state.redis import RedisState
from fraudstream.model.artifact import Model
from fraudstream.runtime import Runtime
from fraudstream.schema import Transaction
from fraudstream.store import Store
from fraudstream.stream import Backoff
from tests.integration.conftest import assert_same_state, decided_count, reference_state, send
from tests.kafka_broker import committed_offsets, log_ends, read_topic
from tests.services import POSTGRES_URL, REDIS_URL
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.services


def run_until(runtime: Runtime, done: Callable[[], bool], timeout: float = 90.0) -> None:
    runtime.start()
    wait_until(runtime, done, timeout)


def wait_until(runtime: Runtime, done: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the workers did not finish in time"
        assert runtime.workers_alive, "a worker died"
        time.sleep(0.1)


def test_every_transaction_decided_once_published_and_committed(
    kafka_runtime: Callable[..., Runtime],
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    stream_transactions: list[Transaction],
    trained_model: Model,
) -> None:
    sample = stream_transactions[:800]
    send(brokers, topics, sample)
    bad = Producer({"bootstrap.servers": brokers})
    poison = {
        "invalid_json": b"{not json",
        "missing_field": json.dumps({"transaction_id": "x1", "amount": 3}).encode(),
        "wrong_type": json.dumps(
            {**json.loads(sample[0].model_dump_json()), "transaction_id": "x2", "amount": "lots"}
        ).encode(),
        "huge": b'{"transaction_id": "x3", "pad": "' + b"x" * 200_000 + b'"}',
        # Each used to stop the stream: a validator's OverflowError killed the worker's
        # thread; PostgreSQL refused a NUL and the batch was retried forever.
        "overflowing_time": json.dumps(
            {
                **json.loads(sample[1].model_dump_json()),
                "transaction_id": "x4",
                "timestamp": "9999-12-31T23:59:59-01:00",
            }
        ).encode(),
        "nul_in_category": json.dumps(
            {**json.loads(sample[2].model_dump_json()), "transaction_id": "x5", "merchant_category": "a\u0000b"}
        ).encode(),
        # Refused by a rule of the database's own (below): isolated, not retried forever.
        "refused_by_database": json.dumps(
            {**json.loads(sample[4].model_dump_json()), "transaction_id": "x6", "merchant_category": "refused"}
        ).encode(),
        # Produced after the sample, under the same key (so the same partition): decided first.
        "conflicting_duplicate": json.dumps({**json.loads(sample[3].model_dump_json()), "amount": 1.25}).encode(),
    }
    for name, value in poison.items():
        key = sample[3].customer_id.encode() if name == "conflicting_duplicate" else b"poison"
        bad.produce(topics["transactions"], value=value, key=key)
    bad.flush(10)
    runtime = kafka_runtime()
    with runtime.service.store.engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE transactions ADD CONSTRAINT refused CHECK (merchant_category <> 'refused')"
        )
    run_until(runtime, lambda: runtime.workers[0].processed >= len(sample) + len(poison))
    assert runtime.workers[0].source.lag() == 0  # from the fetches' high watermarks
    runtime.stop()

    assert decided_count(postgres_url) == len(sample)
    published = read_topic(brokers, topics["decisions"], len(sample))
    decisions = [json.loads(m.value()) for m in published]
    assert sorted(d["transaction_id"] for d in decisions) == sorted(t.transaction_id for t in sample)
    assert all(m.key() == d["customer_id"].encode() for m, d in zip(published, decisions, strict=True))
    # Each bad message is in the dead-letter topic as it was sent, with why and where from.
    letters = {m.value(): m for m in read_topic(brokers, topics["dlq"], len(poison))}
    assert set(letters) == set(poison.values())
    expected = {
        "invalid_json": "invalid_json",
        "huge": "too_large",
        "conflicting_duplicate": "conflicting_duplicate",
        "refused_by_database": "rejected_by_store",
    }
    for name, value in poison.items():
        headers = dict(letters[value].headers())
        assert headers["error"].decode() == expected.get(name, "invalid_transaction"), name
        assert re.fullmatch(rf"{topics['transactions']}\[[0-3]\]@\d+", headers["source"].decode()), name
        assert headers["detail"], name
    assert b"amount" in dict(letters[poison["wrong_type"]].headers())["detail"]
    assert letters[poison["huge"]].key() == b"poison"
    # Everything was committed: the group's offsets are the ends of the partitions.
    sent = read_topic(brokers, topics["transactions"], len(sample) + len(poison))
    committed = committed_offsets(brokers, runtime.settings.kafka_group, topics["transactions"], 4)
    assert committed == log_ends(sent, 4) and len(sent) == sum(committed.values()) == len(sample) + len(poison)
    compared = assert_same_state(
        RedisState(REDIS_URL, prefix=runtime.settings.state_prefix), reference_state(trained_model, sample)
    )
    assert compared > 500


def test_database_and_redis_outages_are_retried_without_loss(
    kafka_runtime: Callable[..., Runtime],
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    redis_prefix: str,
    stream_transactions: list[Transaction],
    trained_model: Model,
) -> None:
    redis_proxy = TcpProxy("127.0.0.1", Redis.from_url(REDIS_URL).connection_pool.connection_kwargs["port"])
    pg_proxy = TcpProxy("127.0.0.1", 5432)
    pg_url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}")
    assert pg_url != postgres_url, POSTGRES_URL
    client = Redis(host="127.0.0.1", port=redis_proxy.port, db=15, socket_timeout=1, socket_connect_timeout=1)
    state = RedisState(client, prefix=redis_prefix)
    runtime = kafka_runtime(state=state, database_url=pg_url, worker_batch_size=50)
    runtime.workers[0].backoff = Backoff(first=0.05, longest=0.5)
    sample = stream_transactions[:1_200]
    send(brokers, topics, sample[:600])
    run_until(runtime, lambda: decided_count(postgres_url) >= 200)

    def retries() -> float:  # scoring (reads Redis), storing and folding (writes) are each retried
        return sum(
            s.value for s in runtime.service.metrics.sink_retries.collect()[0].samples if s.name.endswith("_total")
        )

    for proxy in (pg_proxy, redis_proxy):  # PostgreSQL away, then Redis away, mid-stream
        before = retries()
        proxy.cut()
        send(brokers, topics, sample[600:900] if proxy is pg_proxy else sample[900:])
        deadline = time.monotonic() + 30
        while retries() < before + 2:  # the worker ran into the outage, and kept trying
            assert time.monotonic() < deadline, "the worker never hit the outage"
            time.sleep(0.05)
        proxy.restore()
    deadline = time.monotonic() + 90
    while decided_count(postgres_url) < len(sample):
        assert time.monotonic() < deadline, f"{decided_count(postgres_url)} of {len(sample)} decided"
        time.sleep(0.2)
    runtime.stop()
    published = {json.loads(m.value())["transaction_id"] for m in read_topic(brokers, topics["decisions"], len(sample))}
    assert published == {t.transaction_id for t in sample}
    assert_same_state(RedisState(REDIS_URL, prefix=redis_prefix), reference_state(trained_model, sample))


def test_two_workers_split_the_partitions_and_match_one(
    kafka_runtime: Callable[..., Runtime],
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    redis_prefix: str,
    stream_transactions: list[Transaction],
    trained_model: Model,
) -> None:
    sample = stream_transactions
    runtime = kafka_runtime(workers=2, worker_batch_size=100)
    send(brokers, topics, sample)
    run_until(runtime, lambda: decided_count(postgres_url) >= len(sample))
    assignments = [{(p.topic, p.partition) for p in w.source.assignment} for w in runtime.workers]  # type: ignore[attr-defined]
    runtime.stop()
    assert all(assignments) and not (assignments[0] & assignments[1])
    assert sum(w.processed for w in runtime.workers) == len(sample)  # each event processed once
    assert all(w.processed > 0 for w in runtime.workers)
    store = Store(postgres_url, migrate=False)
    assert len(store.decisions_for([t.transaction_id for t in sample])) == len(sample)
    assert_same_state(RedisState(REDIS_URL, prefix=redis_prefix), reference_state(trained_model, sample))


def test_a_worker_joining_mid_stream_takes_partitions_over_without_loss_or_double_folds(
    kafka_runtime: Callable[..., Runtime],
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    redis_prefix: str,
    stream_transactions: list[Transaction],
    trained_model: Model,
) -> None:
    sample = stream_transactions
    send(brokers, topics, sample[:600])
    first = kafka_runtime(worker_batch_size=50)
    run_until(first, lambda: decided_count(postgres_url) >= 300)

    def keep_sending() -> None:  # the rest arrives while the group rebalances, and after
        for start in range(600, len(sample), 100):
            send(brokers, topics, sample[start : start + 100])
            time.sleep(0.1)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    second = kafka_runtime(worker_batch_size=50)  # joins: the group rebalances while the first is busy
    run_until(second, lambda: bool(second.workers[0].source.assignment))  # type: ignore[attr-defined]
    sender.join()
    wait_until(second, lambda: decided_count(postgres_url) >= len(sample))
    workers = [first.workers[0], second.workers[0]]
    deadline = time.monotonic() + 60
    while sum(w.processed for w in workers) < len(sample) or any(w.source.lag() for w in workers):
        assert time.monotonic() < deadline, ([w.processed for w in workers], [w.source.lag() for w in workers])
        time.sleep(0.1)
    assert second.workers[0].source.assignment  # type: ignore[attr-defined]
    first.stop()
    second.stop()

    assert second.workers[0].processed > 0
    sent = read_topic(brokers, topics["transactions"], len(sample))
    assert committed_offsets(brokers, first.settings.kafka_group, topics["transactions"], 4) == log_ends(sent, 4)
    # A batch taken over may be redelivered: then it is republished, identically.
    published: dict[str, set[bytes]] = {}
    for m in read_topic(brokers, topics["decisions"], len(sample)):
        published.setdefault(json.loads(m.value())["transaction_id"], set()).add(m.value())
    assert set(published) == {t.transaction_id for t in sample}
    assert all(len(versions) == 1 for versions in published.values())
    assert_same_state(RedisState(REDIS_URL, prefix=redis_prefix), reference_state(trained_model, sample))


def test_a_ruleset_change_reaches_a_running_worker_without_a_restart(
    kafka_runtime: Callable[..., Runtime],
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    stream_transactions: list[Transaction],
) -> None:
    before, after = stream_transactions[:200], stream_transactions[200:400]
    runtime = kafka_runtime(rules_refresh_s=0.2)
    send(brokers, topics, before)
    run_until(runtime, lambda: runtime.workers[0].processed >= len(before))
    # Another process (the API, `fraudstream rules apply`) changes the rules and a list in the database.
    admin = Store(postgres_url)
    admin.policies.create_list("watched", "customer")
    admin.policies.add_entries("watched", [after[0].customer_id])
    ruleset = {
        "rules": [
            {"id": "watched", "when": "customer_id in list('watched')", "action": "block"},
            {"id": "everything", "when": "amount >= 0", "action": "review", "mode": "shadow"},
        ]
    }
    version = admin.policies.save_ruleset(ruleset, "test")
    admin.close()
    time.sleep(0.5)  # past the worker's refresh interval: the next batch looks
    send(brokers, topics, after)
    wait_until(runtime, lambda: runtime.workers[0].processed >= len(before) + len(after))
    runtime.stop()

    published = [json.loads(m.value()) for m in read_topic(brokers, topics["decisions"], len(before) + len(after))]
    by_id = {d["transaction_id"]: d for d in published}
    assert all(by_id[t.transaction_id]["ruleset_version"] is None for t in before)
    assert all(by_id[t.transaction_id]["ruleset_version"] == version for t in after)
    watched = [by_id[t.transaction_id] for t in after if t.customer_id == after[0].customer_id]
    assert watched and all(d["outcome"] == "decline" and d["rules"][0]["id"] == "watched" for d in watched)
    assert all(
        {"id": "everything", "action": "review", "mode": "shadow"} in by_id[t.transaction_id]["rules"] for t in after
    )
