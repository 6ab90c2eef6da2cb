"""rules, lists and backtest from the command line, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.io import write_frame
from fraudstream.model.artifact import Model

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})

GOOD = """
rules:
  - id: far_and_large
    when: amount > 1000 and customer_distance_usual_km > 500
    action: review
  - id: blocked
    when: device_id in list('blocked_devices')
    action: block
"""
BAD = """
rules:
  - id: typo
    when: amount > 1 and velocity > 3
    action: review
  - id: evil
    when: __import__('os').system('true')
    action: block
  - id: lists
    when: device_id in list('nope')
    action: block
"""


@pytest.fixture
def files(tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]) -> Path:
    write_frame(history[0], tmp_path / "world.parquet")
    write_frame(history[1], tmp_path / "world.labels.parquet")
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    return tmp_path


def test_rules_check_apply_and_show(files: Path) -> None:
    database = ["--database", f"sqlite:///{files / 'fs.db'}"]
    refused = runner.invoke(app, ["rules", "check", str(files / "bad.yaml"), *database])
    assert refused.exit_code == 2
    lines = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: rule typo: unknown field 'velocity' (when: line 1, column 16)",
        "error: rule evil: attribute access (a.b) is not allowed (when: line 1, column 1)",
        "error: rule lists, when: the list 'nope' does not exist",
    ]
    assert "blocked_devices" in runner.invoke(app, ["rules", "apply", str(files / "good.yaml"), *database]).output
    added = runner.invoke(app, ["lists", "add", "blocked_devices", "D1", "--kind", "device", *database])
    assert added.exit_code == 0, added.output
    applied = runner.invoke(app, ["rules", "apply", str(files / "good.yaml"), *database])
    assert applied.exit_code == 0 and "ruleset version 1 stored" in applied.output
    again = runner.invoke(app, ["rules", "apply", str(files / "good.yaml"), *database])
    assert "version 1 in force is this one already" in again.output
    shown = runner.invoke(app, ["rules", "show", *database])
    assert "version 1, from file:good.yaml" in shown.output and "far_and_large" in shown.output
    checked = runner.invoke(app, ["rules", "check", str(files / "good.yaml")])
    assert checked.exit_code == 0 and "lists not checked (give --database)" in checked.output


def test_lists_never_change_kind_or_action_by_adding(files: Path) -> None:
    database = ["--database", f"sqlite:///{files / 'fs.db'}"]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["lists", *args, *database])
        return result.exit_code, result.output

    assert run("add", "bins", "411111", "55", "--kind", "prefix", "--action", "block", "--expires", "30d") == (
        0,
        "bins: 2 added, 0 updated\n",
    )
    code, output = run("add", "bins", "4000", "--action", "allow")
    assert code == 2 and "bins is a block list; change that with `fraudstream lists set`" in output
    code, output = run("add", "bins", "4000", "--kind", "device")
    assert code == 2 and "bins holds prefix values, not device ones" in output
    code, output = run("add", "ips", "10.0.0.1", "999.1.1.1", "--kind", "ip")
    assert code == 2 and "value 2: not an IP address" in output
    assert "ips" not in run("show")[1]  # nothing half-made
    code, output = run("add", "bins", "4000", "--expires", "2020-01-01")
    assert code == 2 and "already past" in output
    assert run("set", "bins", "--action", "none") == (0, "bins: used by rules only\n")
    assert run("show")[1].split() == ["bins", "prefix", "rules", "only", "2", "entries"]
    assert run("remove", "bins", "55") == (0, "bins: 1 removed\n")
    assert run("show", "bins")[1].startswith("411111")


def test_backtest_writes_a_report_and_says_what_to_distrust(files: Path, trained_model: Model) -> None:
    model_dir = files / "model"
    trained_model.save(model_dir)
    database = ["--database", f"sqlite:///{files / 'fs.db'}"]
    runner.invoke(app, ["lists", "add", "blocked_devices", "D1", "--kind", "device", *database])
    common = [
        "backtest", "--rules", str(files / "good.yaml"), "--model", str(model_dir),
        "--data", str(files / "world.parquet"), "--labels", str(files / "world.labels.parquet"), *database,
    ]  # fmt: skip
    printed = runner.invoke(app, [*common, "--json", "--review-cost", "3", "--customer-value", "40"])
    assert printed.exit_code == 0, printed.output
    result = json.loads(printed.stdout[printed.stdout.index("{") :])
    assert result["transactions"] > 10_000 and [p["name"] for p in result["policies"]] == ["model", "tested"]
    assert [r["id"] for r in result["rules"]] == ["far_and_large", "blocked"]
    assert any("training window" in w for w in result["warnings"])  # the model was trained on this history
    model_only = result["policies"][0]
    benefit = (
        model_only["fraud_stopped_amount"] - 3 * model_only["outcomes"]["review"] - 40 * model_only["good_declined"]
    )
    assert model_only["net_benefit"] == pytest.approx(benefit, abs=0.01)
    report = runner.invoke(app, [*common, "--out", str(files / "report"), "--since", "2026-01-10"])
    assert report.exit_code == 0, report.output
    html = (files / "report" / "index.html").read_text()
    assert "far_and_large" in html and "<svg" in html and "http" not in html.split("<body>")[1]
    assert json.loads((files / "report" / "backtest.json").read_text())["window"]["first"] >= "2026-01-10"
    neither = runner.invoke(app, ["backtest", "--rules", str(files / "good.yaml"), "--model", str(model_dir)])
    assert neither.exit_code == 2 and "give --data PATH or --from-store" in neither.output
