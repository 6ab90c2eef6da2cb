"""`fraudstream topics` and `fraudstream produce` against a real Kafka-protocol broker."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from tests.kafka_broker import read_topic

pytestmark = pytest.mark.services
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_topics_and_produce(brokers: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "FRAUDSTREAM_KAFKA_TRANSACTIONS_TOPIC": "cli-tx",
        "FRAUDSTREAM_KAFKA_LABELS_TOPIC": "cli-labels",
        "FRAUDSTREAM_KAFKA_DECISIONS_TOPIC": "cli-decisions",
        "FRAUDSTREAM_KAFKA_DEAD_LETTER_TOPIC": "cli-tx.dlq",
    }
    created = runner.invoke(app, ["topics", "--brokers", brokers, "--partitions", "3"], env=env)
    assert created.exit_code == 0, created.output
    assert "cli-tx: created with 3 partitions" in created.output
    again = runner.invoke(app, ["topics", "--brokers", brokers], env=env)
    assert again.exit_code == 0 and "cli-tx: exists" in again.output

    args = ["produce", "--brokers", brokers, "--simulate", "--customers", "200", "--merchants", "20"]
    sent = runner.invoke(
        app, [*args, "--rate", "0", "--count", "300", "--topic", "cli-tx", "--labels-topic", "cli-labels"]
    )
    assert sent.exit_code == 0, sent.output
    assert "produced 300 transactions" in sent.output
    messages = read_topic(brokers, "cli-tx", 300)
    assert len(messages) == 300
    first = json.loads(messages[0].value())
    assert {"transaction_id", "customer_id", "amount"} <= set(first)
    assert all(m.key() == json.loads(m.value())["customer_id"].encode() for m in messages)

    world = tmp_path / "w.parquet"
    assert (
        runner.invoke(
            app, ["simulate", "--customers", "50", "--merchants", "10", "--days", "2", "--out", str(world)]
        ).exit_code
        == 0
    )
    from_file = runner.invoke(
        app,
        [
            "produce",
            "--brokers",
            brokers,
            "--from",
            str(world),
            "--labels",
            str(tmp_path / "w.labels.parquet"),
            "--rate",
            "0",
            "--topic",
            "cli-tx",
            "--labels-topic",
            "cli-labels",
        ],
    )
    assert from_file.exit_code == 0, from_file.output
    bad = runner.invoke(app, ["produce", "--brokers", brokers])
    assert bad.exit_code == 2 and "--simulate or --from" in bad.output
