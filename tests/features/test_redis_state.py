"""What only a shared state has to get right: concurrent writers merge, not overwrite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from redis import Redis

from fraudstream.features import Events, FeatureEngine, FeatureSet, MemoryState
from fraudstream.features.layout import K_DAY_SLOTS
from fraudstream.features.state.redis import CALM_MERGES, RedisState
from tests.services import REDIS_URL

BASE = pd.Timestamp("2026-02-01", tz="UTC")
FEATURES = FeatureSet.for_inputs(["customer", "merchant", "terminal", "device", "location", "channel", "category"])


@pytest.fixture
def redis_state(redis_client: Redis) -> Iterator[RedisState]:
    state = RedisState(redis_client, prefix=f"test:{uuid.uuid4().hex[:12]}")
    yield state
    state.clear()


def batch(prefix: str, customer: str, n: int, start: int = 0) -> Events:
    rows: list[dict[str, Any]] = [
        {
            "transaction_id": f"{prefix}{i}",
            "timestamp": BASE + pd.Timedelta(minutes=start + i),
            "customer_id": customer,
            "merchant_id": "shared-merchant",
            "device_id": "shared-device",
            "amount": 10.0 + i,
        }
        for i in range(n)
    ]
    return Events.from_frame(pd.DataFrame(rows))


def write_at_once(state: RedisState, first: Events, second: Events) -> MemoryState:
    """Two workers read before either writes, then write in turn; returns the same two
    batches folded through one memory state, for comparison."""
    a, b = (FeatureEngine(FEATURES, RedisState(state.client, prefix=state.prefix)) for _ in range(2))
    _raw_a, ws_a = a.prepare(first)
    _raw_b, ws_b = b.prepare(second)  # read before a's commit
    a.commit(ws_a).wait()
    b.commit(ws_b).wait()
    memory = MemoryState()
    single = FeatureEngine(FEATURES, memory)
    single.process(first)
    single.process(second)
    return memory


def probe(state: RedisState, customer: str, *features: str) -> list[float]:
    reader = FeatureEngine(FEATURES, RedisState(state.client, prefix=state.prefix))
    events = batch("probe", customer, 1, start=30)
    row = reader.compute(reader.prepare(events)[0], events)[0]
    return [row[list(FEATURES.names).index(f)] for f in features]


def test_two_workers_on_one_merchant_both_count(redis_state: RedisState) -> None:
    memory = write_at_once(redis_state, batch("a", "alice", 5), batch("b", "bob", 7, start=2))
    # 5 + 7 payments, neither lost; two customers on the device
    assert probe(redis_state, "carol", "merchant_count_1d", "device_distinct_customers_24h") == [12, 2]
    merged, expected = redis_state.row("merchant", "shared-merchant"), memory.row("merchant", "shared-merchant")
    assert merged is not None and expected is not None
    np.testing.assert_allclose(merged, expected, rtol=1e-12, equal_nan=True)


def test_redelivered_batch_after_commit_is_not_folded_again(redis_state: RedisState) -> None:
    engine = FeatureEngine(FEATURES, redis_state)
    engine.process(batch("x", "dave", 4))
    before = redis_state.row("customer", "dave")
    engine.process(batch("x", "dave", 4))
    assert np.array_equal(redis_state.row("customer", "dave"), before, equal_nan=True)


def test_rows_expire_and_validate_ttl(redis_state: RedisState) -> None:
    FeatureEngine(FEATURES, redis_state).process(batch("t", "erin", 1))
    ttl = redis_state.client.pttl(redis_state._key("customer", "erin"))
    assert (K_DAY_SLOTS + 5) * 86_400_000 < ttl <= (K_DAY_SLOTS + 6) * 86_400_000
    with pytest.raises(ValueError, match="longest ring"):
        RedisState(redis_state.client, entity_ttl_s=86_400)


def test_a_merge_is_sent_without_waiting_and_settled_before_it_counts(redis_state: RedisState) -> None:
    engine = FeatureEngine(FEATURES, redis_state)
    _raw, workspace = engine.prepare(batch("s", "frank", 3))
    pending = engine.commit(workspace)  # sent; its reply is read by the next round trip
    pending.wait()
    pending.wait()  # done once, a no-op after
    assert redis_state.row("customer", "frank") is not None
    # The next batch reads behind the merge, on the same connection: it sees all of it.
    events = batch("s2", "frank", 1, start=10)
    probe = engine.compute(engine.prepare(events)[0], events)
    assert probe[0, list(FEATURES.names).index("customer_count_1h")] == 3


def test_a_merge_sent_again_after_a_lost_reply_is_applied_once(redis_state: RedisState) -> None:
    engine = FeatureEngine(FEATURES, redis_state)
    _raw, workspace = engine.prepare(batch("r", "gina", 4))
    channel = redis_state._channel
    pending = engine.commit(workspace)
    merge = channel._pending
    pending.wait()
    once = redis_state.row("merchant", "shared-merchant")
    # As after a broken connection: the merge is pending again and goes out ahead of the
    # next reads. Its marker key says it went through, so nothing is counted twice.
    channel._pending = merge
    channel.round_trip([])
    np.testing.assert_array_equal(redis_state.row("merchant", "shared-merchant"), once)


def test_a_merge_after_redis_forgot_its_script_loads_it_again(redis_state: RedisState) -> None:
    # Redis keeps no scripts across a restart: the merge finds its script gone, loads it
    # and goes through (it was retried forever before: the error was not recognised).
    engine = FeatureEngine(FEATURES, redis_state)
    _raw, workspace = engine.prepare(batch("k", "kim", 3))
    redis_state.client.script_flush()
    engine.commit(workspace).wait()
    assert probe(redis_state, "kim", "customer_count_1h") == [3]


def test_a_customer_written_by_two_workers_at_once_counts_both(redis_state: RedisState) -> None:
    # Customers go without merge operations (one worker owns each); a conflict sends the
    # merge again with them, so a customer seen by two workers at once (a rebalance)
    # loses nothing either.
    memory = write_at_once(redis_state, batch("ca", "hank", 5), batch("cb", "hank", 7, start=2))
    assert probe(redis_state, "hank", "customer_count_1h") == [12]
    merged, expected = redis_state.row("customer", "hank"), memory.row("customer", "hank")
    assert merged is not None and expected is not None
    rings = slice(4, 484)  # the windows; the header and tables keep the latest, not a sum
    np.testing.assert_allclose(merged[rings], expected[rings], rtol=1e-12, equal_nan=True)


def rows_without_operations(command: tuple[Any, ...]) -> int:
    """Entity rows in a merge command sent without their merge operations."""
    argv = command[3 + int(command[2]) :]  # EVALSHA sha numkeys KEYS... ARGV...
    return sum(1 for i in range(int(argv[0])) if argv[10 + 4 * i] == b"")


def test_shared_rows_go_with_their_operations_only_while_another_worker_writes(redis_state: RedisState) -> None:
    # Alone, a worker's merges never conflict, and its shared rows go without operations
    # (working them out is a worker's cost); once another worker writes them too, a
    # conflict sends the merge again, and later merges carry them from the start.
    second = RedisState(redis_state.client, prefix=redis_state.prefix)
    sent: list[int] = []
    send_merge = second._channel.send_merge

    def counting(command: tuple[Any, ...], on_conflict: Any) -> Any:
        sent.append(rows_without_operations(command))
        return send_merge(command, on_conflict)

    second._channel.send_merge = counting  # type: ignore[method-assign]
    a = FeatureEngine(FEATURES, RedisState(redis_state.client, prefix=redis_state.prefix))
    b = FeatureEngine(FEATURES, second)
    reference = FeatureEngine(FEATURES, memory := MemoryState())
    for engine in (b, reference):
        engine.process(batch("alone", "bob", 3))
    assert sent == [3] and not second._channel.contended  # bob's, the merchant's and the device's rows
    for round_, start in enumerate((10, 20, 30)):
        first, later = batch(f"a{round_}", "alice", 4, start=start), batch(f"b{round_}", "bob", 5, start=start + 1)
        _, ws_a = a.prepare(first)
        _, ws_b = b.prepare(later)  # read before a's write
        a.commit(ws_a).wait()
        b.commit(ws_b).wait()
        assert second._channel.contended
        reference.process(first)
        reference.process(later)
    assert sent == [3, 3, 1, 1]  # after the first conflict, only bob's row goes without
    for i in range(CALM_MERGES + 1):  # alone again: operations until merges stay clean
        b.process(batch(f"later{i}", "bob", 1, start=40 + i))
    assert sent[4:] == [1] * CALM_MERGES + [3] and not second._channel.contended
    reference.process(Events.concat([batch(f"later{i}", "bob", 1, start=40 + i) for i in range(CALM_MERGES + 1)]))
    assert probe(redis_state, "carol", "merchant_count_1d", "device_distinct_customers_24h") == [39, 2]
    merged, expected = redis_state.row("merchant", "shared-merchant"), memory.row("merchant", "shared-merchant")
    assert merged is not None and expected is not None
    np.testing.assert_allclose(merged, expected, rtol=1e-12, equal_nan=True)


def test_a_row_merged_under_a_batch_worked_out_ahead_is_merged_again_not_replaced(redis_state: RedisState) -> None:
    # A worker works batch k+1 out on batch k's rows as k will write them, before k's
    # fold goes out. If another worker wrote one of those rows meanwhile, k's fold merges
    # it, and k+1 must not then replace it with a row that never saw the other write: a
    # merged row gets a version no worker holds rows of, so k+1's write merges as well.
    a = FeatureEngine(FEATURES, RedisState(redis_state.client, prefix=redis_state.prefix))
    b = FeatureEngine(FEATURES, RedisState(redis_state.client, prefix=redis_state.prefix))
    first, other, then = batch("k", "bob", 3), batch("x", "alice", 4, start=5), batch("k1", "bob", 2, start=10)
    _, ahead = b.prepare(first)
    fold_ahead = b.stage(ahead)
    a.process(other)  # the other worker writes the merchant and the device
    _, workspace = b.prepare(then, ahead)
    fold_ahead.apply().wait()
    b.commit(workspace).wait()
    single = FeatureEngine(FEATURES, memory := MemoryState())
    for events in (first, other, then):
        single.process(events)
    assert probe(redis_state, "carol", "merchant_count_1d", "device_distinct_customers_24h") == [9, 2]
    merged, expected = redis_state.row("merchant", "shared-merchant"), memory.row("merchant", "shared-merchant")
    assert merged is not None and expected is not None
    np.testing.assert_allclose(merged, expected, rtol=1e-12, equal_nan=True)


def test_a_connection_the_server_closed_between_batches_is_opened_again(redis_client: Redis) -> None:
    # The state keeps one connection of its own across batches; Redis may close it while
    # idle (its `timeout` setting, a proxy), and the next batch goes through regardless.
    client = Redis.from_url(REDIS_URL, client_name="fs-closed-idle")
    state = RedisState(client, prefix=f"test:{uuid.uuid4().hex[:12]}")
    try:
        engine = FeatureEngine(FEATURES, state)
        engine.process(batch("i", "ivan", 3))
        ours = [c["id"] for c in redis_client.client_list() if c["name"] == "fs-closed-idle"]
        assert ours and all(redis_client.client_kill_filter(_id=i) == 1 for i in ours)
        engine.process(batch("j", "ivan", 2, start=3))
        assert probe(state, "ivan", "customer_count_1h") == [5]
    finally:
        state.clear()
        client.close()
