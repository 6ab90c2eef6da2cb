"""Real services for the crash-safety suite: Tansu (Kafka protocol), Redis, PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis import Redis, RedisError
from sqlalchemy import create_engine, text

from fraudstream.config import Settings
from fraudstream.features import Events, FeatureEngine, MemoryState
from fraudstream.features.layout import SPECS
from fraudstream.features.state.base import ENTITY_KINDS
from fraudstream.features.state.redis import RedisState
from fraudstream.model.artifact import Model
from fraudstream.runtime import Runtime, build_runtime
from fraudstream.schema import Transaction
from fraudstream.simulate import World, WorldConfig
from fraudstream.stream.kafka import KafkaSettings
from fraudstream.stream.produce import produce_events
from tests.kafka_broker import FAST_GROUP, create_topics, tansu, topic_names
from tests.services import REDIS_URL, postgres_schema, unavailable

pytestmark = pytest.mark.services


@pytest.fixture(scope="session")
def brokers() -> Iterator[str]:
    with tansu() as address:
        yield address


@pytest.fixture
def topics(brokers: str) -> dict[str, str]:
    names = topic_names()
    create_topics(brokers, {names["transactions"]: 4, names["labels"]: 1, names["decisions"]: 4, names["dlq"]: 1})
    return names


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisError as exc:
        unavailable("Redis", exc)
    prefix = f"it:{uuid.uuid4().hex[:10]}"
    yield prefix
    RedisState(client, prefix=prefix).clear()


@pytest.fixture(scope="session")
def stream_transactions() -> list[Transaction]:
    """One busy day of a world: ~2,400 transactions of 2,000 customers at 60 shops."""
    frame, _ = World(WorldConfig(customers=2_000, merchants=60, seed=21)).day(0)
    return [
        Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
        for r in frame.to_dict("records")
    ]


def kafka_settings(brokers: str, topics: dict[str, str]) -> KafkaSettings:
    return KafkaSettings(
        brokers=brokers,
        transactions_topic=topics["transactions"],
        labels_topic=topics["labels"],
        decisions_topic=topics["decisions"],
        dead_letter_topic=topics["dlq"],
    )


def send(brokers: str, topics: dict[str, str], transactions: list[Transaction]) -> None:
    produce_events(transactions, kafka_settings(brokers, topics))


def settings_for(
    tmp_path: Path, brokers: str, topics: dict[str, str], postgres_url: str, redis_prefix: str, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path,
        "database_url": postgres_url,
        "source": "kafka",
        "kafka_brokers": brokers,
        "kafka_group": f"group-{topics['transactions']}",
        "kafka_transactions_topic": topics["transactions"],
        "kafka_labels_topic": topics["labels"],
        "kafka_decisions_topic": topics["decisions"],
        "kafka_dead_letter_topic": topics["dlq"],
        "kafka_consumer_options": FAST_GROUP,
        "redis_url": REDIS_URL,
        "state_prefix": redis_prefix,
    }
    return Settings.model_validate({**values, **extra})


@pytest.fixture
def kafka_runtime(
    trained_model: Model, tmp_path: Path, brokers: str, topics: dict[str, str], postgres_url: str, redis_prefix: str
) -> Iterator[Callable[..., Runtime]]:
    made: list[Runtime] = []

    def make(workers: int = 1, state: Any = None, **extra: Any) -> Runtime:
        settings = settings_for(tmp_path, brokers, topics, postgres_url, redis_prefix, **extra)
        runtime = build_runtime(settings, model=trained_model, state=state, workers=workers)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.stop()


def decided_count(postgres_url: str) -> int:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM decisions")).scalar_one())
    except Exception:
        return 0
    finally:
        engine.dispose()


def reference_state(model: Model, transactions: list[Transaction]) -> MemoryState:
    """The feature state of one uninterrupted run over the same transactions."""
    state = MemoryState()
    engine = FeatureEngine(model.features, state)
    ordered = sorted(transactions, key=lambda t: t.timestamp)
    for start in range(0, len(ordered), 500):
        engine.process(Events.from_transactions(ordered[start : start + 500]))
    return state


def assert_same_state(stored: RedisState, expected: MemoryState) -> int:
    """Every entity's row equal: rings and headers within float round-off, tables as sets."""
    compared = 0
    for kind, layout in ENTITY_KINDS:
        spec = SPECS[layout]
        for entity in expected.tables[kind].index:
            want = expected.row(kind, entity)
            got = stored.row(kind, entity)
            assert want is not None and got is not None, (kind, entity)
            tables = np.zeros(spec.width, dtype=bool)
            for table in spec.tables:
                end = table.offset + 2 * table.slots
                tables[table.offset : end] = True
                as_set = [
                    {(k, last) for k, last in row[table.offset : end].reshape(-1, 2).tolist() if k == k}
                    for row in (got, want)
                ]
                assert as_set[0] == as_set[1], (kind, entity, "table")
            np.testing.assert_allclose(
                got[~tables], want[~tables], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{kind} {entity}"
            )
            compared += 1
    return compared
