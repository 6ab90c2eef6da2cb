"""kill -9 a worker mid-stream, restart it: nothing lost, nothing decided twice, state as if uninterrupted."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fraudstream.features.state.redis import RedisState
from fraudstream.model.artifact import Model
from fraudstream.schema import Transaction
from fraudstream.store import Store
from fraudstream.stream.produce import produce_events
from tests.integration.conftest import (
    assert_same_state,
    decided_count,
    kafka_settings,
    reference_state,
    settings_for,
)
from tests.kafka_broker import read_topic
from tests.services import REDIS_URL

pytestmark = pytest.mark.services
log = logging.getLogger(__name__)


def worker_process(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "serve", "--no-api"],
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("behind", [False, True], ids=["keeping up", "behind a backlog"])
def test_kill_dash_nine_and_restart(
    behind: bool,
    trained_model: Model,
    tmp_path: Path,
    brokers: str,
    topics: dict[str, str],
    postgres_url: str,
    redis_prefix: str,
    stream_transactions: list[Transaction],
) -> None:
    # Saving names a model after its directory: keep the shared session model's name.
    model_dir = trained_model.save(tmp_path / "model", name=trained_model.info["name"])
    # Behind a backlog, every batch is full: the worker scores the next one while the
    # database stores one, so the kill can land with a batch scored ahead.
    batch_size = 20 if behind else 50
    settings = settings_for(tmp_path, brokers, topics, postgres_url, redis_prefix, worker_batch_size=batch_size)
    env = {
        **os.environ,
        "FRAUDSTREAM_MODEL_PATH": str(model_dir),
        "FRAUDSTREAM_HOME": str(tmp_path),
        "FRAUDSTREAM_LOG_LEVEL": "INFO",
        **{
            f"FRAUDSTREAM_{name.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
            for name, value in settings.model_dump().items()
            if name.startswith(("kafka_", "redis", "state_", "database", "source", "worker_"))
        },
    }
    Store(postgres_url)  # the schema, before anyone polls it
    sample = stream_transactions
    # Traffic keeps coming while the worker runs, dies and comes back; or it all waits.
    events = iter(sample) if behind else _paced(sample, 800.0)
    producer = threading.Thread(target=lambda: produce_events(events, kafka_settings(brokers, topics)), daemon=True)
    producer.start()
    if behind:
        producer.join(60)
    log_path = tmp_path / "worker.log"
    first = worker_process(env, log_path)
    deadline = time.monotonic() + 60
    while decided_count(postgres_url) < len(sample) // (10 if behind else 3):
        assert first.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    at_kill = decided_count(postgres_url)
    assert at_kill < len(sample), "the worker finished before it could be killed"

    second = worker_process(env, log_path)
    deadline = time.monotonic() + 120
    while decided_count(postgres_url) < len(sample):
        assert second.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, f"{decided_count(postgres_url)}/{len(sample)}\n{log_path.read_text()}"
        time.sleep(0.2)
    producer.join(30)
    second.send_signal(signal.SIGTERM)  # graceful: finish the batch, commit, exit 0
    assert second.wait(30) == 0, log_path.read_text()

    # Exactly one stored decision per transaction.
    store = Store(postgres_url, migrate=False)
    stored = store.decisions_for([t.transaction_id for t in sample])
    assert len(stored) == len(sample) == decided_count(postgres_url)
    # The decisions topic holds every transaction; a duplicate is the same decision again.
    published = read_topic(brokers, topics["decisions"], len(sample))
    by_id: dict[str, set[bytes]] = {}
    for message in published:
        by_id.setdefault(json.loads(message.value())["transaction_id"], set()).add(message.value())
    assert set(by_id) == set(stored)
    assert all(len(versions) == 1 for versions in by_id.values())
    duplicates = len(published) - len(by_id)
    # The feature state equals an uninterrupted run's.
    compared = assert_same_state(RedisState(REDIS_URL, prefix=redis_prefix), reference_state(trained_model, sample))
    print(  # the figures for the record (pytest -s)
        f"crash test ({'behind' if behind else 'keeping up'}): sent {len(sample)}, decided {len(stored)}, "
        f"decided before the kill {at_kill}, "
        f"duplicates on the decisions topic {duplicates}, entities compared {compared}"
    )


def _paced(transactions: list[Transaction], rate: float):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    for i, tx in enumerate(transactions):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        yield tx
