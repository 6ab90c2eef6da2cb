from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream import __version__
from fraudstream.cli import app

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "schema", "demo"):
        assert command in result.output


def test_every_option_says_what_it_is_and_flags_take_no_value() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.opts[0]} has no help"
        shown = runner.invoke(app, [name, "--help"])
        assert shown.exit_code == 0 and "<bool>" not in shown.output, name


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_simulate_writes_transactions_and_labels(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"world{suffix}"
    args = ["simulate", "--customers", "200", "--merchants", "30", "--days", "3", "--seed", "4"]
    result = runner.invoke(app, [*args, "--fraud-rate", "0.05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    labels_out = tmp_path / f"world.labels{suffix}"
    assert out.exists() and labels_out.exists()
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    transactions, labels = read(out), read(labels_out)
    assert len(transactions) > 500 and len(labels) > 0
    assert set(labels["transaction_id"]) <= set(transactions["transaction_id"])
    assert f"{len(transactions):,} transactions" in result.output
    if suffix != ".parquet":
        assert str(transactions["timestamp"].iloc[0]).endswith("Z")


def test_a_tiny_world_whose_first_days_have_no_fraud_is_written(tmp_path: Path) -> None:
    out = tmp_path / "w.parquet"
    args = ["simulate", "--customers", "300", "--merchants", "30", "--days", "14", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    labels = pd.read_parquet(tmp_path / "w.labels.parquet")
    assert len(labels) > 0 and labels["transaction_id"].map(type).eq(str).all()
    assert set(labels["transaction_id"]) <= set(pd.read_parquet(out)["transaction_id"])


def test_simulate_rejects_unknown_format(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "world.xlsx")])
    assert result.exit_code == 2
    assert "use a .parquet, .csv or .csv.gz file name" in result.output


def test_simulate_rejects_bad_numbers(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--customers", "0", "--out", str(tmp_path / "w.csv")])
    assert result.exit_code == 2
    assert "--customers" in result.output


def test_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema", "transaction"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Transaction"
    everything = json.loads(runner.invoke(app, ["schema"]).output)
    assert set(everything) == {"transaction", "label", "decision"}
    bad = runner.invoke(app, ["schema", "invoice"])
    assert bad.exit_code == 2 and "unknown schema" in bad.output
