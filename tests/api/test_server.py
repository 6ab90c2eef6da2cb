"""The API served by uvicorn as `serve` runs it: ports, proxies, and the workers' process."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.ports import PortInUseError
from fraudstream.runtime import build_runtime
from fraudstream.server import Server

KEY = "server-test-key-0123456789"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_a_port_in_use_is_one_line_and_exit_2(busy_port: int, trained_model: Model, tmp_path: Path) -> None:
    runtime = build_runtime(Settings(home=tmp_path), model=trained_model)
    with pytest.raises(PortInUseError, match=f"port {busy_port} is in use on 127.0.0.1; pick another with --port"):
        Server(runtime, "127.0.0.1", busy_port)
    model_dir = tmp_path / "model"
    trained_model.save(model_dir, name=trained_model.info["name"])
    result = CliRunner().invoke(
        app, ["serve", "--model", str(model_dir), "--port", str(busy_port)], env={"FRAUDSTREAM_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2 and "is in use" in result.output and "Traceback" not in result.output


def test_a_forwarded_for_header_does_not_make_a_new_client(trained_model: Model, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, api_keys=f"{KEY}:read", failed_keys_per_minute=5)
    server = Server(build_runtime(settings, model=trained_model), "127.0.0.1", 0)
    server.start()
    try:
        statuses = [
            httpx.get(
                f"{server.url}/v1/stats",
                headers={"X-API-Key": "wrong-key-0123456789", "X-Forwarded-For": f"10.0.0.{i}"},
            ).status_code
            for i in range(12)
        ]
    finally:
        server.stop()
    assert statuses[:5] == [401] * 5 and set(statuses[6:]) == {429}  # counted per connection's address


def test_without_http_the_process_ends_with_its_workers(trained_model: Model, tmp_path: Path) -> None:
    runtime = build_runtime(Settings(home=tmp_path / uuid.uuid4().hex), model=trained_model)
    server = Server(runtime, "127.0.0.1", 0, http=False)
    assert server.http is False
    server.start()
    runtime.workers[0].stop.set()  # the worker ends (as when its source failed for good)
    assert server.serve_until_interrupted(every=0.05, duration=10) is False
