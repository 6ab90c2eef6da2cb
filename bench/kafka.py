"""Kafka in and out, Redis feature state, PostgreSQL decisions: what one and two workers sustain.

    python bench/kafka.py [--events 40000] [--rate 2000]

Needs the local Redis and PostgreSQL and the Tansu broker from the dev dependencies.
Workers are `fraudstream serve --no-api --source kafka` processes, as deployed.

1. throughput: N transactions waiting in a 12-partition topic; 1 worker, then 2 workers
   in one group; events/s between 10 % and 90 % decided (steady state);
2. latency: one worker, traffic offered at --rate; produced -> decision on the decisions
   topic (the two Kafka timestamps);
3. the broker's floor in the same run: a relay that consumes and re-produces each message
   with the worker's client settings and does nothing else, measured the same way;
4. the seed design in the same run: a consumer that POSTs each event to the API;
5. a py-spy profile of one worker under load, in a run of its own (py-spy takes CPU);
6. CPU per event of every process (the workers, Redis, PostgreSQL, the broker), from
   /proc between 10 % and 90 % decided: with two cores for everything, the sum says
   what the machine itself allows; a worker's is also split between librdkafka's
   threads and Python's (which one limits it);
7. with --baseline-src DIR (the src/ of another checkout, e.g. a `git worktree` of an
   older commit): one worker of that code and one of this, alternately, --pairs times,
   each pair measuring throughput and latency (with --latency-pairs-only, only this,
   latency alone, between two measurements of the broker's floor).
   The machine's speed drifts by a third within minutes; a ratio of neighbouring runs
   says what a change did, where two separate runs cannot.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import save
from _world import live_transactions, model

# The test helpers (Tansu, service URLs) live in the repository's tests package.
sys.path.insert(0, str(Path(__file__).parent.parent))
from confluent_kafka import Consumer, Producer
from sqlalchemy import create_engine, text
from tests.kafka_broker import FAST_GROUP, create_topics, tansu, topic_names
from tests.services import POSTGRES_URL, REDIS_URL

from fraudstream.features.state.redis import RedisState
from fraudstream.schema import Transaction
from fraudstream.store import Store
from fraudstream.stream.kafka import KafkaSettings
from fraudstream.stream.produce import produce_events

PARTITIONS = 12


class Setup:
    """Fresh topics, schema and Redis prefix for one measurement."""

    def __init__(self, brokers: str, model_dir: Path) -> None:
        self.brokers = brokers
        self.topics = topic_names()
        create_topics(
            brokers,
            {
                self.topics["transactions"]: PARTITIONS,
                self.topics["labels"]: 1,
                self.topics["decisions"]: PARTITIONS,
                self.topics["dlq"]: 1,
            },
        )
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        self.database = f"{POSTGRES_URL}?options=-csearch_path%3D{self.schema}"
        Store(self.database).close()
        self.engine = create_engine(self.database)
        self.env = {
            **os.environ,
            "FRAUDSTREAM_HOME": tempfile.mkdtemp(),
            "FRAUDSTREAM_MODEL_PATH": str(model_dir),
            "FRAUDSTREAM_DATABASE_URL": self.database,
            "FRAUDSTREAM_REDIS_URL": REDIS_URL,
            "FRAUDSTREAM_STATE_PREFIX": f"bench:{self.schema}",
            "FRAUDSTREAM_SOURCE": "kafka",
            "FRAUDSTREAM_KAFKA_BROKERS": brokers,
            "FRAUDSTREAM_KAFKA_GROUP": f"g-{self.schema}",
            "FRAUDSTREAM_KAFKA_TRANSACTIONS_TOPIC": self.topics["transactions"],
            "FRAUDSTREAM_KAFKA_LABELS_TOPIC": self.topics["labels"],
            "FRAUDSTREAM_KAFKA_DECISIONS_TOPIC": self.topics["decisions"],
            "FRAUDSTREAM_KAFKA_DEAD_LETTER_TOPIC": self.topics["dlq"],
            "FRAUDSTREAM_KAFKA_CONSUMER_OPTIONS": json.dumps(FAST_GROUP),
            "FRAUDSTREAM_LOG_LEVEL": "WARNING",
        }

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            brokers=self.brokers, transactions_topic=self.topics["transactions"], labels_topic=self.topics["labels"]
        )

    def decided(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM decisions")).scalar_one())

    def workers(self, n: int, src: Path | None = None) -> list[subprocess.Popen[bytes]]:
        """`n` worker processes, of this checkout's code or of the one in `src`."""
        env = self.env if src is None else {**self.env, "PYTHONPATH": str(src)}
        return [
            subprocess.Popen(
                [sys.executable, "-m", "fraudstream.cli", "serve", "--no-api", "--metrics-port", "0"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(n)
        ]

    def close(self) -> None:
        self.engine.dispose()
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        admin.dispose()
        RedisState(REDIS_URL, prefix=f"bench:{self.schema}").clear()


SERVICES = ("redis-server", "postgres", "tansu")
WORKER_THREADS = ("workers: kafka client threads", "workers: python threads")


def _name_and_cpu(stat_file: Path) -> tuple[str, float] | None:
    """A process's or thread's name and CPU seconds (user + system) from its /proc stat."""
    try:
        stat = stat_file.read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return stat[stat.index("(") + 1 : stat.rindex(")")], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(workers: list[int]) -> dict[str, float]:
    """CPU seconds used so far by the workers and by each service, from /proc.

    A worker's threads are also counted apart: librdkafka's own threads (named rdk:*,
    fetching, batching, checksumming) and the rest, which is Python's (the worker loop).
    """
    out = dict.fromkeys(("workers", *SERVICES, *WORKER_THREADS), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        if int(entry.name) in workers:
            for task in (entry / "task").iterdir():
                if (thread := _name_and_cpu(task / "stat")) is not None:
                    out["workers"] += thread[1]
                    out[WORKER_THREADS[0] if thread[0].startswith("rdk:") else WORKER_THREADS[1]] += thread[1]
        elif (process := _name_and_cpu(entry / "stat")) is not None and process[0] in SERVICES:
            out[process[0]] += process[1]
    return out


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait(60)


def throughput(
    brokers: str,
    model_dir: Path,
    transactions: list[Transaction],
    n_workers: int,
    profile: bool,
    src: Path | None = None,
) -> dict[str, Any]:
    setup = Setup(brokers, model_dir)
    try:
        produce_events(transactions, setup.kafka())
        processes = setup.workers(n_workers, src)
        pids = [p.pid for p in processes]
        total = len(transactions)
        marks: dict[float, float] = {}
        cpu: dict[float, dict[str, float]] = {}
        profile_text = ""
        spy: subprocess.Popen[str] | None = None
        deadline = time.monotonic() + 600
        while (count := setup.decided()) < total and time.monotonic() < deadline:
            for q in (0.1, 0.9):
                if q not in marks and count >= q * total:
                    marks[q] = time.monotonic()
                    cpu[q] = cpu_seconds(pids)
                    if profile and q == 0.1:
                        spy = subprocess.Popen(
                            [
                                str(Path(sys.executable).parent / "py-spy"),
                                "record",
                                "-p",
                                str(processes[0].pid),
                                "-d",
                                "10",
                                "-f",
                                "raw",
                                "-o",
                                "/tmp/fraudstream-worker.spy",
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            text=True,
                        )
            time.sleep(0.05)
        if spy is not None:
            spy.wait(30)
            profile_text = _top_frames(Path("/tmp/fraudstream-worker.spy"))
        stop(processes)
        rate = 0.8 * total / (marks[0.9] - marks[0.1])
        used = {k: cpu[0.9][k] - cpu[0.1][k] for k in cpu[0.9]}
        return {
            "workers": n_workers,
            "events": total,
            "events_per_s": round(rate),
            "cpu_us_per_event": {k: round(1e6 * v / (0.8 * total), 1) for k, v in used.items()},
            "cpu_us_per_event_total": round(1e6 * sum(used[k] for k in ("workers", *SERVICES)) / (0.8 * total), 1),
            **({"profile_top": profile_text} if profile else {}),
        }
    finally:
        setup.close()


def _top_frames(path: Path, top: int = 14) -> list[str]:
    """Inclusive share of the samples per function, from py-spy's raw output."""
    counts: dict[str, int] = {}
    total = 0
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        total += int(n)
        for name in {frame.split(" (")[0] for frame in stack.split(";")}:
            counts[name] = counts.get(name, 0) + int(n)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    skip = ("_bootstrap", "Thread.run", "<module>", "main", "_run_code", "run_module", "serve", "__call__")
    return [f"{100 * n / total:.1f}% {name}" for name, n in ranked if not name.startswith(skip)][:top]


def relay(brokers: str, source: str, target: str, seconds: float) -> None:
    """Consume and re-produce every message, nothing else: what the broker alone costs."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"relay-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **FAST_GROUP,
        }
    )
    producer = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True, "linger.ms": 1})
    consumer.subscribe([source])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = [m for m in consumer.consume(500, 0.005) if m.error() is None]
        for m in batch:
            producer.produce(target, m.value(), key=m.key())
        if batch:  # as the worker: delivered, then committed
            producer.flush(30)
            consumer.commit(asynchronous=False)


#: Messages sent before the measured ones, until they come out: the worker has started,
#: loaded its model and joined its group (a fixed wait was too short on a slow machine,
#: and its backlog then counted as latency).
WARM_UP = 20
#: The load generator's tick: it sends what is due, then sleeps at least this long.
TICK_S = 0.001


def tail(brokers: str, topic: str, wanted: int, seconds: float) -> list[Any]:
    """The messages on `topic` from its start, until `wanted` of them or `seconds` passed."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"tail-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            **FAST_GROUP,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    while len(out) < wanted and time.monotonic() < deadline:
        out += [m for m in consumer.consume(5_000, 0.5) if m.error() is None]
    consumer.close()
    return out


def wait_until_relayed(brokers: str, producer: Producer, source: str, output: str, warm: list[Transaction]) -> float:
    """Send `warm` and wait until each is on `output`; returns the seconds that took."""
    started = time.monotonic()
    for tx in warm:
        producer.produce(source, tx.model_dump_json().encode(), key=tx.customer_id.encode())
    producer.flush(30)
    if len(tail(brokers, output, len(warm), 180)) < len(warm):
        raise RuntimeError(f"the consumer under test did not relay {len(warm)} warm-up messages in 180 s")
    return time.monotonic() - started


def latency(
    brokers: str,
    model_dir: Path,
    transactions: list[Transaction],
    rate: float,
    floor: bool = False,
    src: Path | None = None,
) -> dict[str, Any]:
    """Produced -> on the output topic, at `rate`: one worker (of `src`'s code if given), or
    (floor) the bare relay."""
    setup = Setup(brokers, model_dir)
    try:
        if floor:
            output = f"relay-{setup.schema}"
            create_topics(brokers, {output: PARTITIONS})
            duration = str(len(transactions) / rate + 40)
            relay_args = ["relay", brokers, setup.topics["transactions"], output, duration]
            processes = [subprocess.Popen([sys.executable, __file__, *relay_args])]
        else:
            output = setup.topics["decisions"]
            processes = setup.workers(1, src)
        # Batched like a real producer (linger): Tansu, the test broker, gets slower per batch stored.
        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20})
        warm, transactions = transactions[:WARM_UP], transactions[WARM_UP:]
        ready_after = wait_until_relayed(brokers, producer, setup.topics["transactions"], output, warm)
        # Serialised beforehand, and sent in ticks of every message due: the generator
        # shares the two cores with the system under test, and a sleep per message took
        # 14 % of a core at 2k/s (9 % in ticks). Each message's time is taken as it is produced.
        payloads = [(tx.transaction_id, tx.model_dump_json().encode(), tx.customer_id.encode()) for tx in transactions]
        produced_at: dict[str, float] = {}
        started = time.monotonic()
        sent = 0
        while sent < len(payloads):
            due = min(len(payloads), int((time.monotonic() - started) * rate) + 1)
            for tx_id, value, key in payloads[sent:due]:
                produced_at[tx_id] = time.time()
                producer.produce(setup.topics["transactions"], value, key=key)
            sent = due
            producer.poll(0)
            time.sleep(max(TICK_S, started + sent / rate - time.monotonic()))
        producer.flush(30)
        latencies: dict[str, float] = {}
        for m in tail(brokers, output, len(transactions) + len(warm), 120):
            tx_id = json.loads(m.value() or b"{}")["transaction_id"]
            if tx_id in produced_at:
                latencies.setdefault(tx_id, (m.timestamp()[1] / 1000 - produced_at[tx_id]) * 1000)
        stop(processes)
        values = np.array(list(latencies.values()))
        return {
            "offered_per_s": rate,
            "events": len(transactions),
            "ready_after_s": round(ready_after, 1),
            "decided": len(values),
            **{f"p{q}_ms": round(float(np.percentile(values, q)), 2) for q in (50, 90, 99)},
        }
    finally:
        setup.close()


def seed_design(brokers: str, model_dir: Path, transactions: list[Transaction]) -> dict[str, Any]:
    """A consumer that POSTs every event to the scoring API, as the seed systems do."""
    from _server import ServeProcess

    setup = Setup(brokers, model_dir)
    os.environ.update(
        {k: v for k, v in setup.env.items() if k.startswith("FRAUDSTREAM_") and k != "FRAUDSTREAM_SOURCE"}
    )
    server = ServeProcess(model_dir, warm=False)
    try:
        produce_events(transactions, setup.kafka())
        consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": f"seed-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                **FAST_GROUP,
            }
        )
        consumer.subscribe([setup.topics["transactions"]])
        conn = server.connection()
        done = 0
        started: float | None = None
        deadline = time.monotonic() + 300
        while done < len(transactions) and time.monotonic() < deadline:
            for m in consumer.consume(1, 0.5):  # one message, one call
                if m.error() is None:
                    started = started or time.monotonic()
                    status, _ = server.request("POST", "/v1/score", m.value(), conn)
                    assert status == 200
                    done += 1
        elapsed = time.monotonic() - (started or time.monotonic())
        consumer.close()
        return {"events": done, "events_per_s": round(done / elapsed)}
    finally:
        server.stop()
        setup.close()


def _abba(pair: int, base: Callable[[], dict[str, Any]], this: Callable[[], dict[str, Any]]) -> tuple[Any, Any]:
    """(baseline, this) run baseline first in even pairs, this code first in odd ones."""
    if pair % 2 == 0:
        baseline = base()
        return baseline, this()
    ours = this()
    return base(), ours


def against_baseline(
    brokers: str,
    model_dir: Path,
    transactions: list[Transaction],
    timed: list[Transaction],
    rate: float,
    src: Path,
    pairs: int,
    latency_only: bool = False,
) -> dict[str, Any]:
    """One worker of the baseline's code and one of this checkout's, `pairs` times, in ABBA
    order: the machine's speed drifts, and a fixed order would charge the drift to one
    side. Each pair: throughput on `transactions` (unless `latency_only`), then latency
    on `timed` at `rate`."""
    rows = []
    src = src.resolve()
    for pair in range(pairs):
        row: dict[str, Any] = {"baseline_first": pair % 2 == 0}
        if not latency_only:
            baseline, ours = _abba(
                pair,
                lambda: throughput(brokers, model_dir, transactions, 1, profile=False, src=src),
                lambda: throughput(brokers, model_dir, transactions, 1, profile=False),
            )
            row |= {
                "baseline_events_per_s": baseline["events_per_s"],
                "events_per_s": ours["events_per_s"],
                "baseline_worker_cpu_us_per_event": baseline["cpu_us_per_event"]["workers"],
                "worker_cpu_us_per_event": ours["cpu_us_per_event"]["workers"],
                "baseline_redis_cpu_us_per_event": baseline["cpu_us_per_event"]["redis-server"],
                "redis_cpu_us_per_event": ours["cpu_us_per_event"]["redis-server"],
                "baseline_total_cpu_us_per_event": baseline["cpu_us_per_event_total"],
                "total_cpu_us_per_event": ours["cpu_us_per_event_total"],
            }
        base_latency, our_latency = _abba(
            pair,
            lambda: latency(brokers, model_dir, timed, rate, src=src),
            lambda: latency(brokers, model_dir, timed, rate),
        )
        row |= {
            "baseline_p50_ms": base_latency["p50_ms"],
            "p50_ms": our_latency["p50_ms"],
            "baseline_p99_ms": base_latency["p99_ms"],
            "p99_ms": our_latency["p99_ms"],
        }
        rows.append(row)

    ratios = {
        "throughput_ratio_median": ("events_per_s", "baseline_events_per_s"),
        "worker_cpu_ratio_median": ("worker_cpu_us_per_event", "baseline_worker_cpu_us_per_event"),
        "redis_cpu_ratio_median": ("redis_cpu_us_per_event", "baseline_redis_cpu_us_per_event"),
        "total_cpu_ratio_median": ("total_cpu_us_per_event", "baseline_total_cpu_us_per_event"),
        "latency_p50_ratio_median": ("p50_ms", "baseline_p50_ms"),
        "latency_p99_ratio_median": ("p99_ms", "baseline_p99_ms"),
    }
    return {
        "baseline_src": str(src),
        "pairs": rows,
        **{
            name: round(float(np.median([r[ours] / r[theirs] for r in rows])), 3)
            for name, (ours, theirs) in ratios.items()
            if ours in rows[0]
        },
    }


def main() -> None:
    if sys.argv[1:2] == ["relay"]:
        relay(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--seed-events", type=int, default=3_000)
    parser.add_argument("--baseline-src", type=Path, help="src/ of another checkout: its worker against this one")
    parser.add_argument("--pairs", type=int, default=3, help="baseline/current pairs with --baseline-src")
    parser.add_argument(
        "--latency-pairs-only",
        action="store_true",
        help="with --baseline-src: only the pairs' latency runs, saved as kafka_latency_pairs",
    )
    args = parser.parse_args()
    if args.baseline_src is not None and not (args.baseline_src / "fraudstream" / "cli.py").exists():
        parser.error(f"--baseline-src {args.baseline_src}: no fraudstream package there (give a checkout's src/)")

    trained, model_dir = model()
    n_latency = int(args.rate * args.latency_seconds)
    pool = live_transactions(3 * args.events + 2 * n_latency + args.seed_events)
    offsets = np.cumsum([0, args.events, args.events, n_latency, n_latency, args.seed_events, args.events])
    runs = [pool[a:b] for a, b in itertools.pairwise(offsets)]
    baseline: dict[str, Any] = {}
    if args.latency_pairs_only:
        if args.baseline_src is None:
            parser.error("--latency-pairs-only needs --baseline-src")
        with tansu() as brokers:
            floor_before = latency(brokers, model_dir, runs[3], args.rate, floor=True)
            pairs = against_baseline(
                brokers, model_dir, runs[0], runs[2], args.rate, args.baseline_src, args.pairs, latency_only=True
            )
            floor_after = latency(brokers, model_dir, runs[3], args.rate, floor=True)
        save(
            "kafka_latency_pairs",
            {
                "offered_per_s": args.rate,
                **pairs,
                "broker_floor_p99_ms_before_after": [floor_before["p99_ms"], floor_after["p99_ms"]],
            },
        )
        return
    with tansu() as brokers:
        if args.baseline_src is not None:
            baseline = against_baseline(brokers, model_dir, runs[0], runs[2], args.rate, args.baseline_src, args.pairs)
        one = throughput(brokers, model_dir, runs[0], 1, profile=False)
        two = throughput(brokers, model_dir, runs[1], 2, profile=False)
        profiled = throughput(brokers, model_dir, runs[5], 1, profile=True)
        lat = latency(brokers, model_dir, runs[2], args.rate)
        floor = latency(brokers, model_dir, runs[3], args.rate, floor=True)
        seed = seed_design(brokers, model_dir, runs[4])
    save(
        "kafka",
        {
            "model": trained.version,
            "partitions": PARTITIONS,
            "one_worker": one,
            "two_workers": two,
            "one_worker_under_py_spy": profiled,
            "scaling_two_over_one": round(two["events_per_s"] / one["events_per_s"], 2),
            "latency_one_worker": lat,
            "latency_broker_floor_relay": floor,
            "seed_design_http_per_event": seed,
            "throughput_ours_over_seed": round(one["events_per_s"] / seed["events_per_s"], 1),
            **({"against_baseline": baseline} if baseline else {}),
            "setup": "Tansu broker (memory), local Redis (state) and PostgreSQL (decisions), one 2-core machine",
            "targets": ">= 10k events/s one worker; p99 < 50 ms at 2k events/s",
        },
    )


if __name__ == "__main__":
    main()
