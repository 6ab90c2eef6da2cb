"""`fraudstream topics` and `fraudstream produce` against a real Kafka-protocol broker."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.io import read_frame
from fraudstream.schema import Label
from tests.kafka_broker import create_topics, read_topic

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
    run = sent.stderr.split("ids start with ")[1].split()[0]  # each run's ids are its own
    assert all(json.loads(m.value())["transaction_id"].startswith(run) for m in messages)
    assert all(m.key() == json.loads(m.value())["customer_id"].encode() for m in messages)

    world = tmp_path / "w.parquet"
    assert (
        runner.invoke(
            app, ["simulate", "--customers", "50", "--merchants", "10", "--days", "2", "--out", str(world)]
        ).exit_code
        == 0
    )
    create_topics(brokers, {"cli-file-tx": 2, "cli-file-labels": 1})
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
            "cli-file-tx",
            "--labels-topic",
            "cli-file-labels",
        ],
    )
    assert from_file.exit_code == 0, from_file.output
    # Both files, read back from both topics: every transaction and every label.
    transactions, labels = read_frame(world), read_frame(tmp_path / "w.labels.parquet")
    assert len(labels) > 0
    sent = [json.loads(m.value()) for m in read_topic(brokers, "cli-file-tx", len(transactions))]
    assert sorted(t["transaction_id"] for t in sent) == sorted(transactions["transaction_id"])
    reported = [Label.model_validate_json(m.value()) for m in read_topic(brokers, "cli-file-labels", len(labels))]
    assert sorted(label.transaction_id for label in reported) == sorted(labels["transaction_id"])
    assert all(
        label.is_fraud == bool(row)
        for label, row in zip(
            sorted(reported, key=lambda label: label.transaction_id),
            labels.sort_values("transaction_id")["is_fraud"],
            strict=True,
        )
    )
    bad = runner.invoke(app, ["produce", "--brokers", brokers])
    assert bad.exit_code == 2 and "--simulate or --from" in bad.output
