"""The Kafka source's commits: sent without waiting, completed before it lets go."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from fraudstream.schema import Transaction
from fraudstream.stream.base import Message
from fraudstream.stream.kafka import KafkaSource
from tests.integration.conftest import kafka_settings, send
from tests.kafka_broker import FAST_GROUP, committed_offsets

pytestmark = pytest.mark.services


def sent_and_polled(
    brokers: str, topics: dict[str, str], transactions: list[Transaction], timeout: float = 60.0
) -> tuple[KafkaSource, list[Message]]:
    """`transactions` sent to the topic, and a source that polled every one of them."""
    send(brokers, topics, transactions)
    source = KafkaSource(replace(kafka_settings(brokers, topics), consumer=FAST_GROUP))
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < len(transactions):
        assert time.monotonic() < deadline, f"only {len(out)} of {len(transactions)} messages arrived"
        out += source.poll(len(transactions) - len(out), 0.2)
    return source, out


def test_commits_are_completed_on_close(
    brokers: str, topics: dict[str, str], stream_transactions: list[Transaction]
) -> None:
    source, messages = sent_and_polled(brokers, topics, stream_transactions[:40])
    first, rest = messages[:25], messages[25:]
    source.commit(first)
    source.commit(rest)  # sent; its reply is never served by a poll before close
    source.close()

    ends: dict[int, int] = {}
    for m in messages:
        _, partition, offset = m.handle
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    assert committed_offsets(brokers, source.settings.group_id, topics["transactions"], 4) == ends


def test_only_what_was_committed_is_committed(
    brokers: str, topics: dict[str, str], stream_transactions: list[Transaction]
) -> None:
    source, messages = sent_and_polled(brokers, topics, stream_transactions[:30])
    done = [m for m in messages if m.handle[1] == messages[0].handle[1]]  # one partition's messages
    source.commit(done)
    source.close()  # the other partitions' messages were polled, never committed

    partition = done[0].handle[1]
    assert committed_offsets(brokers, source.settings.group_id, topics["transactions"], 4) == {
        partition: max(m.handle[2] for m in done) + 1
    }


def test_nothing_is_committed_for_partitions_given_up(
    brokers: str, topics: dict[str, str], stream_transactions: list[Transaction]
) -> None:
    # A batch still in flight when its partitions are revoked (the worker polls the next
    # batch while one is stored) is the next owner's to commit, not this consumer's.
    source, messages = sent_and_polled(brokers, topics, stream_transactions[:30])
    other = KafkaSource(source.settings)  # joins the group: the partitions are shared out again
    deadline = time.monotonic() + 60
    while not other.assignment or len(source.assignment) + len(other.assignment) != 5:  # 4 + the labels'
        assert time.monotonic() < deadline, "the group did not rebalance"
        source.poll(100, 0.1)  # the rebalance's callbacks run inside polls
        other.poll(100, 0.1)
    kept = {tp.partition for tp in source.assignment if tp.topic == topics["transactions"]}
    source.commit(messages)  # polled before the rebalance: only the kept partitions' count
    source.close()
    other.consumer.close()

    done = [m for m in messages if m.handle[1] in kept]
    ends: dict[int, int] = {}
    for m in done:
        ends[m.handle[1]] = max(ends.get(m.handle[1], 0), m.handle[2] + 1)
    assert committed_offsets(brokers, source.settings.group_id, topics["transactions"], 4) == ends
    assert len(done) < len(messages)
