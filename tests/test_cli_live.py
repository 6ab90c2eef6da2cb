"""`fraudstream demo` and `fraudstream serve`, run as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.model.artifact import Model
from fraudstream.store import Store

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_demo_runs_end_to_end_and_stops(tmp_path: Path) -> None:
    env = {"FRAUDSTREAM_HOME": str(tmp_path)}
    args = ["demo", "--customers", "300", "--days", "30", "--rate", "200", "--port", "0", "--duration", "4"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "Evaluation on the test period" in result.output and "stopped cleanly" in result.output
    model = Model.load(tmp_path / "demo" / "models" / "demo")
    assert model.info["demo_world"]["customers"] == 300
    # The live part decided the streamed payments and stored them (200 a second for 4 s).
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'fraudstream.db'}", migrate=False)
    try:
        decided = sum(n for outcome, n in store.counts().items() if outcome != "labels")
        assert decided >= 200
        page, _ = store.list_decisions(limit=500)
        assert {d.model_version for _, d in page} == {model.version}
    finally:
        store.close()
    again = runner.invoke(app, args, env=env)  # the model is reused the second time
    assert again.exit_code == 0 and "model reused" in again.output


def test_serve_answers_and_stops_on_interrupt(trained_model: Model, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    trained_model.save(model_dir, name=trained_model.info["name"])  # the shared model keeps its name
    port = 18_000 + os.getpid() % 1_000
    process = subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "serve", "--model", str(model_dir), "--port", str(port)],
        env={**os.environ, "FRAUDSTREAM_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C as at a terminal: a shell's background job (`make test &`) passes SIGINT
        # on ignored, and Python then leaves it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stdout.read() if process.stdout else ""
            )
            time.sleep(0.2)
        model = httpx.get(f"http://127.0.0.1:{port}/v1/model").json()
        assert model["version"] == trained_model.version
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "serving model" in output


def test_serve_without_a_model_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env={"FRAUDSTREAM_HOME": str(tmp_path), "FRAUDSTREAM_MODEL_PATH": None})
    assert result.exit_code == 2
    assert "no model" in result.output


def test_serve_refuses_an_open_api_beyond_loopback(tmp_path: Path) -> None:
    env = {"FRAUDSTREAM_HOME": str(tmp_path), "FRAUDSTREAM_API_KEYS": ""}
    refused = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--model", str(tmp_path / "none")], env=env)
    assert refused.exit_code == 2 and "without API keys" in refused.output
    # --insecure lets it go on (here to the next check: there is no model).
    insecure = runner.invoke(
        app, ["serve", "--host", "0.0.0.0", "--insecure", "--model", str(tmp_path / "none")], env=env
    )
    assert insecure.exit_code == 2 and "without API keys" not in insecure.output


def test_one_demo_at_a_time_holds_its_home(tmp_path: Path) -> None:
    from fraudstream.demo import hold_home

    with hold_home(tmp_path), pytest.raises(RuntimeError, match="another demo is running"):
        hold_home(tmp_path)
    with hold_home(tmp_path):  # released with its block
        pass
