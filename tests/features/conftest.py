"""Every feature test runs on every state backend (memory, Redis): one suite, like Feast's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from redis import Redis, RedisError

from fraudstream.features.state import FeatureState, MemoryState
from fraudstream.features.state.redis import RedisState
from tests.services import REDIS_URL, unavailable

StateFactory = Callable[[], FeatureState]


@pytest.fixture
def redis_client() -> Redis:
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisError as exc:
        unavailable("Redis", exc)
    return client


@pytest.fixture(params=["memory", "redis"])
def make_state(request: pytest.FixtureRequest) -> Iterator[StateFactory]:
    if request.param == "memory":
        yield MemoryState
        return
    client = request.getfixturevalue("redis_client")
    made: list[RedisState] = []

    def factory() -> FeatureState:
        state = RedisState(client, prefix=f"test:{uuid.uuid4().hex[:12]}")
        made.append(state)
        return state

    yield factory
    for state in made:
        state.clear()
