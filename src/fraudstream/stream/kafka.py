"""The Kafka transport (confluent-kafka): a consumer-group source, a decisions sink, a dead-letter sink.

- Source: `transactions` and `labels` topics, one consumer group, manual commits: the
  worker commits a batch's offsets only after its decisions reached the store and every
  sink. Rebalance callbacks run inside `poll`; before partitions are given up, the worker
  settles and commits the batch in hand. Partitions lost (the group moved on without
  this worker) are not committed for: their new owner redoes them. A batch's commit is
  sent without waiting for the broker's reply (it would hold up the next batch by a
  round trip); the latest offsets are committed and waited for before partitions are
  given up and on close. A commit lost meanwhile only means a redelivery, and a
  redelivered transaction gets its stored decision back.
- Decisions: produced to `decisions` keyed by customer id (one customer's decisions stay
  ordered), idempotent producer, acks=all; `write` returns at once, and the `Pending` it
  returns waits until the broker acknowledged every message of that write (the worker
  waits for a batch's while it decides the next, then commits its offsets).
- Dead letters: the raw payload to `transactions.dlq`, with the reason, the detail and
  where it came from in the headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from fraudstream.config import Settings
from fraudstream.pending import InFlight, Pending
from fraudstream.schema import Decision, Transaction
from fraudstream.stream.base import LABELS, TRANSACTIONS, DeadLetter, Message

__all__ = ["KafkaDeadLetters", "KafkaDecisionSink", "KafkaSettings", "KafkaSource", "ensure_topics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSettings:
    brokers: str
    group_id: str = "fraudstream"
    transactions_topic: str = "transactions"
    labels_topic: str = "labels"
    decisions_topic: str = "decisions"
    dead_letter_topic: str = "transactions.dlq"
    #: Extra librdkafka settings for consumers and producers (security, timeouts, ...).
    client: dict[str, Any] = field(default_factory=dict)
    #: Extra librdkafka settings for consumers only (group timeouts, fetch waits, ...).
    consumer: dict[str, Any] = field(default_factory=dict)
    flush_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, brokers: str | None = None) -> KafkaSettings:
        return cls(
            brokers=brokers or settings.kafka_brokers,
            group_id=settings.kafka_group,
            transactions_topic=settings.kafka_transactions_topic,
            labels_topic=settings.kafka_labels_topic,
            decisions_topic=settings.kafka_decisions_topic,
            dead_letter_topic=settings.kafka_dead_letter_topic,
            client=dict(settings.kafka_options),
            consumer=dict(settings.kafka_consumer_options),
        )


class DeliveryError(RuntimeError):
    pass


class BrokerUnreachableError(RuntimeError):
    pass


# The group moved on without this member (it was too slow or cut off): its partitions are
# someone else's now, who gets the uncommitted messages again; writes are idempotent.
_GROUP_MOVED_ON = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError.FENCED_INSTANCE_ID,
    KafkaError.STALE_MEMBER_EPOCH,
}


class KafkaSource:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._topics = {settings.transactions_topic: TRANSACTIONS, settings.labels_topic: LABELS}
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.brokers,
                "group.id": settings.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                **settings.client,
                **settings.consumer,
                "on_commit": self._committed,
            }
        )
        self.assignment: list[TopicPartition] = []
        self._committing: dict[tuple[str, int], int] = {}  # next offset per partition, sent to commit
        #: Called inside `poll` before partitions are given up: the worker settles its batch.
        self.before_revoke: Callable[[], None] | None = None
        self._lag: int | None = None
        self._starts: dict[tuple[str, int], int] = {}  # committed offsets at assignment
        self.consumer.subscribe(
            list(self._topics), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment = list(partitions)
        # Where each partition starts: until a message of it is consumed, the consumer's
        # position is unknown, and a partition another member finished is not behind.
        try:
            self._starts = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.committed(partitions, 10)}
        except KafkaException as exc:
            log.debug("committed offsets unknown: %s", exc)
            self._starts = {}
        log.info("partitions assigned", extra={"partitions": [f"{p.topic}[{p.partition}]" for p in partitions]})

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": [f"{p.topic}[{p.partition}]" for p in partitions]})
        if self.before_revoke is not None:
            self.before_revoke()  # the batch in hand: acknowledged and committed while still ours
        self._commit_now()
        self.assignment = []

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Not ours any more: nothing can be committed for them (see `commit`).
        log.warning("partitions lost", extra={"partitions": [f"{p.topic}[{p.partition}]" for p in partitions]})
        self._committing.clear()
        self.assignment = []

    def _committed(self, error: KafkaError | None, _partitions: list[TopicPartition]) -> None:
        # An asynchronous commit's reply (served inside `poll`). A failed one is covered by
        # the next commit of the same partitions or by `_commit_now`; else it is redelivered.
        if error is not None:
            log.warning("offsets not committed: %s", error)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        out: list[Message] = []
        topics = self._topics
        # librdkafka's consume waits for all of `max_messages` or the whole timeout, not
        # just for the first message. That wait builds batches: returning with the first
        # message (poll, then consume what else had come) makes smaller batches, each
        # paying the fixed cost of a batch, and the latency higher.
        for raw in self.consumer.consume(num_messages=max_messages, timeout=timeout):
            error = raw.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("consumer error: %s", error)
                continue
            _, stamp = raw.timestamp()
            topic = raw.topic() or ""
            created_at = stamp / 1000 if stamp > 0 else None
            handle = (topic, raw.partition(), raw.offset())
            out.append(Message(raw.value() or b"", topics.get(topic, topic), raw.key(), created_at, handle))
        self._lag = self._measure_lag()
        return out

    def commit(self, messages: Sequence[Message]) -> None:
        """Send the commit of `messages`' offsets; the broker's reply is not waited for.

        Only for partitions still assigned: a batch can be in flight while its partitions
        are given up (the worker scores the next batch during an insert, and a poll may
        rebalance), and its late commit could move the new owner's offset back.
        """
        owned = {(tp.topic, tp.partition) for tp in self.assignment}
        latest: dict[tuple[str, int], int] = {}
        for message in messages:
            topic, partition, offset = message.handle
            if (topic, partition) in owned:
                latest[(topic, partition)] = max(offset + 1, latest.get((topic, partition), 0))
        if not latest:
            return
        self._committing.update(latest)
        self._send_commit(latest, wait=False)

    def _commit_now(self) -> None:
        """Commit the latest offsets of every partition and wait (partitions are given up)."""
        if not self._committing:
            return
        try:
            self._send_commit(self._committing, wait=True)
        except KafkaException as exc:  # too late to retry: the partitions' next owner redoes them
            log.warning("offsets not committed before giving the partitions up: %s", exc)
        self._committing.clear()

    def _send_commit(self, latest: dict[tuple[str, int], int], wait: bool) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in latest.items()]
        try:
            if wait:  # two calls, not `asynchronous=not wait`: the client's stubs overload on the literal
                self.consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            if exc.args[0].code() not in _GROUP_MOVED_ON:
                raise
            log.warning("offsets not committed, the group rebalanced: the new owner gets them again (%s)", exc)

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions, as of the last poll (any thread)."""
        return self._lag

    def _measure_lag(self) -> int | None:
        # Local: every fetch response carries the partition's high watermark, so this asks
        # the broker nothing (asking cost a round trip per partition). The consumer's own
        # thread only: librdkafka calls from another thread can block behind `consume`.
        total = 0
        try:
            for tp in self.consumer.position(self.assignment):
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:  # not fetched yet
                    return None
                at = tp.offset if tp.offset >= 0 else self._starts.get((tp.topic, tp.partition), -1)
                total += max(0, high - at) if at >= 0 else high
        except KafkaException as exc:
            log.debug("lag unknown: %s", exc)
            return None
        return total

    def close(self) -> None:
        self.consumer.close()  # gives the partitions up: `_revoked` commits and waits


class _Delivery:
    """The messages of one write: how many the broker has yet to acknowledge, and what failed."""

    def __init__(self) -> None:
        self.waiting = 0
        self.errors: list[KafkaError] = []

    def acknowledged(self, error: KafkaError | None, _message: Any) -> None:
        self.waiting -= 1
        if error is not None:
            self.errors.append(error)


Outgoing = tuple[bytes, bytes | None, list[tuple[str, str | bytes | None]] | None]  # value, key, headers


class _Producing:
    """An idempotent producer that tells, per write, when every message of it was acknowledged."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.producer = Producer(
            {
                "bootstrap.servers": settings.brokers,
                "acks": "all",
                "enable.idempotence": True,
                # A write is a whole batch produced at once, so it goes out batched anyway;
                # lingering longer only delays the acknowledgement the worker waits for.
                "linger.ms": 1,
                **settings.client,
            }
        )

    def send(self, messages: Iterable[Outgoing]) -> _Delivery:
        delivery = _Delivery()
        for value, key, headers in messages:
            delivery.waiting += 1
            while True:
                try:
                    self.producer.produce(
                        self.topic, value=value, key=key, headers=headers, on_delivery=delivery.acknowledged
                    )
                    break
                except BufferError:  # the local queue is full: let it drain
                    self.producer.poll(0.05)
        self.producer.poll(0)  # acknowledgements of earlier writes
        return delivery

    def wait(self, delivery: _Delivery) -> None:
        """Until the broker acknowledged every message of `delivery`; raises if one failed."""
        deadline = time.monotonic() + self.settings.flush_timeout_s
        while delivery.waiting > 0 and time.monotonic() < deadline:
            self.producer.poll(0.05)  # returns as soon as an acknowledgement is served
        if delivery.waiting or delivery.errors:
            raise DeliveryError(
                f"{delivery.waiting} messages not acknowledged, {len(delivery.errors)} failed: {delivery.errors[:3]}"
            )

    def close(self) -> None:
        self.producer.flush(self.settings.flush_timeout_s)


# The model's own serializer, called directly: the bytes of `model_dump_json`, without
# its keyword handling and the str round trip.
_decision_json = Decision.__pydantic_serializer__.to_json


class KafkaDecisionSink:
    name = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        self._out = _Producing(settings, settings.decisions_topic)

    def write(self, decisions: Sequence[tuple[Transaction, Decision]]) -> Pending[None]:
        delivery = self._out.send(
            (_decision_json(decision), tx.customer_id.encode(), None) for tx, decision in decisions
        )
        return InFlight(lambda: self._out.wait(delivery))

    def close(self) -> None:
        self._out.close()


class KafkaDeadLetters:
    def __init__(self, settings: KafkaSettings) -> None:
        self._out = _Producing(settings, settings.dead_letter_topic)

    def write(self, letters: Sequence[DeadLetter]) -> None:
        outgoing: list[Outgoing] = []
        for letter in letters:
            message = letter.message
            source = message.handle or ("", -1, -1)
            headers: list[tuple[str, str | bytes | None]] = [
                ("error", letter.reason.encode()),
                ("detail", letter.detail.encode()[:4_000]),
                ("source", f"{source[0]}[{source[1]}]@{source[2]}".encode()),
            ]
            outgoing.append((message.value, message.key, headers))
        self._out.wait(self._out.send(outgoing))

    def close(self) -> None:
        self._out.close()


def ensure_topics(settings: KafkaSettings, partitions: int = 12, replication: int = 1) -> dict[str, str]:
    """Create fraudstream's topics where missing; returns what happened to each."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": settings.brokers, **settings.client})
    wanted = {
        settings.transactions_topic: partitions,
        settings.labels_topic: max(1, partitions // 4),
        settings.decisions_topic: partitions,
        settings.dead_letter_topic: 1,
    }
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=n, replication_factor=replication) for t, n in wanted.items()]
    )
    result = {}
    for topic, future in futures.items():
        try:
            future.result(30)
            result[topic] = f"created with {wanted[topic]} partitions"
        except TimeoutError:
            raise BrokerUnreachableError(f"no answer from Kafka at {settings.brokers}") from None
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            result[topic] = "exists"
    return result
