"""The registry and the champion: registered versions, promotions every process follows at a
batch boundary, and rollback."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fraudstream.api import create_app
from fraudstream.cli import app
from fraudstream.config import Settings
from fraudstream.lifecycle.registry import Registry, UnknownVersionError
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.model.thresholds import Thresholds
from fraudstream.runtime import build_runtime
from fraudstream.schema import Transaction
from fraudstream.store import Store
from tests.api.test_api import tx

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


def two_models(model: Model, folder: Path) -> tuple[Path, Path]:
    """The session model, and one that sends everything to review (another version)."""
    first = model.save(folder / "first")
    reviewer = dataclasses.replace(model, thresholds=Thresholds(0.0, 2.0, "test", {}), info=dict(model.info))
    return first, reviewer.save(folder / "second")


def test_registered_versions_are_copies_under_their_version(trained_model: Model, tmp_path: Path) -> None:
    first, second = two_models(trained_model, tmp_path / "trained")
    registry = Registry(tmp_path / "models")
    assert registry.versions() == []
    v1, v2 = registry.add(first), registry.add(second)
    assert v1 != v2 and registry.add(first) == v1  # the same again: nothing new
    assert {m.version for m in registry.versions()} == {v1, v2}
    assert registry.load(v2).thresholds.review == 0.0
    assert registry.get(v1).summary()["training"]["rows"] > 0
    with pytest.raises(UnknownVersionError):
        registry.get("nope")
    with pytest.raises(ModelLoadError):
        registry.add(tmp_path)  # not a model folder


def test_every_process_follows_a_promotion_at_a_batch_boundary_and_a_rollback(
    trained_model: Model, tmp_path: Path
) -> None:
    first, second = two_models(trained_model, tmp_path / "trained")
    settings = Settings(home=tmp_path, rules_refresh_s=0.05)
    with pytest.raises(ModelLoadError, match="register and promote one"):
        build_runtime(settings)
    database = ["--database", settings.database, "--models", str(settings.models_dir)]
    added = runner.invoke(app, ["models", "add", str(first), "--promote", *database])
    assert added.exit_code == 0, added.output
    v1 = added.output.split()[1].rstrip(",")
    runtime = build_runtime(settings)
    runtime.start()
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            assert client.post("/v1/score", json=tx(1)).json()["model_version"] == v1
            v2 = runner.invoke(app, ["models", "add", str(second), *database]).output.split()[1]
            assert runner.invoke(app, ["models", "promote", v2, "--reason", "better AP", *database]).exit_code == 0
            time.sleep(0.1)  # past the refresh interval: the next batch looks
            after = client.post("/v1/score", json=tx(2)).json()
            assert after["model_version"] == v2 and after["outcome"] == "review"  # the new thresholds decide
            models = client.get("/v1/models").json()
            assert models["in_force"] == models["champion"] == v2 and models["follows_champion"] is True
            assert [h["reason"] for h in models["history"]] == ["better AP", "added from first"]
            assert {v["version"] for v in models["versions"]} == {v1, v2}

            rolled = runner.invoke(app, ["models", "rollback", *database])
            assert rolled.exit_code == 0 and f"{v1} is the champion again (was {v2})" in rolled.output
            time.sleep(0.1)
            assert client.post("/v1/score", json=tx(3)).json()["model_version"] == v1
            listed = runner.invoke(app, ["models", "list", *database]).output
            assert f"* {v1}" in listed and f"  {v2}" in listed
            metrics = client.get("/metrics").text
            assert f'fraudstream_model_info{{version="{v1}"}} 1.0' in metrics
    finally:
        runtime.stop()
    # A process started on a model of its own does not follow the champion.
    pinned = build_runtime(Settings(home=tmp_path, model_path=second))
    assert pinned.service.models is None and pinned.service.version == v2
    pinned.service.store.close()


def test_a_champion_that_cannot_load_leaves_the_one_in_force(trained_model: Model, tmp_path: Path) -> None:
    first, _ = two_models(trained_model, tmp_path / "trained")
    settings = Settings(home=tmp_path, rules_refresh_s=0.01)
    registry = Registry(settings.models_dir)
    v1 = registry.add(first)
    store = Store(settings.database)
    store.champions.promote(v1, "first")
    runtime = build_runtime(settings)
    store.champions.promote("gone-0000000000", "a version nobody registered")
    time.sleep(0.05)
    result = runtime.service.decide([Transaction.model_validate(tx(9))])
    assert result.decisions[0].model_version == v1
    assert runtime.service.models is not None and "gone-0000000000" in (runtime.service.models.error or "")
    store.close()
    runtime.service.store.close()


def test_a_stream_worker_switches_model_between_batches(trained_model: Model, tmp_path: Path) -> None:
    from fraudstream.features import MemoryState
    from fraudstream.stream.memory import MemorySink, MemorySource

    first, second = two_models(trained_model, tmp_path / "trained")
    settings = Settings(home=tmp_path, rules_refresh_s=0.01, worker_batch_size=3)
    registry = Registry(settings.models_dir)
    v1, v2 = registry.add(first), registry.add(second)
    store = Store(settings.database)
    store.champions.promote(v1, "first")
    sink = MemorySink()
    runtime = build_runtime(settings, state=MemoryState(), sinks=[sink])
    source = runtime.source
    assert isinstance(source, MemorySource)
    worker = runtime.workers[0]
    for i in range(3):
        source.put(tx(i))
    worker.step()
    store.champions.promote(v2, "second")
    time.sleep(0.02)
    for i in range(3, 9):
        source.put(tx(i))
    while worker.step():
        pass
    worker.settle()
    versions = [d.model_version for _, d in sink.decisions]
    assert versions == [v1] * 3 + [v2] * 6  # each batch whole with one model
    # The new model reads the same feature state: the customer's nine payments, before and after.
    features = runtime.service.peek([Transaction.model_validate(tx(10))])
    names = list(runtime.service.model.features.names)
    assert features[0, names.index("customer_count_24h")] == 9
    store.close()
    runtime.stop()


def test_rolling_back_twice_goes_two_steps_back_and_the_champion_is_not_a_challenger(
    trained_model: Model, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    database = ["--database", settings.database, "--models", str(settings.models_dir)]
    versions = []
    for i, review in enumerate((0.1, 0.2, 0.3)):
        changed = dataclasses.replace(
            trained_model, thresholds=Thresholds(review, 2.0, "test", {}), info=dict(trained_model.info)
        )
        added = runner.invoke(app, ["models", "add", str(changed.save(tmp_path / f"m{i}")), "--promote", *database])
        versions.append(added.output.split()[1].rstrip(","))
    a, b, c = versions
    store = Store(settings.database)
    assert runner.invoke(app, ["models", "rollback", *database]).exit_code == 0 and store.champions.champion() == b
    assert runner.invoke(app, ["models", "rollback", *database]).exit_code == 0 and store.champions.champion() == a
    last = runner.invoke(app, ["models", "rollback", *database])
    assert last.exit_code == 2 and "nothing to roll back to" in last.output
    same = runner.invoke(app, ["models", "challenger", a, *database])
    assert same.exit_code == 2 and "is the champion" in same.output
    assert runner.invoke(app, ["models", "challenger", c, *database]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", c, *database]).exit_code == 0
    assert store.champions.champion() == c and store.champions.challenger() is None  # promoted: no longer a challenger
    unknown = runner.invoke(app, ["models", "show", "nope", *database])
    assert unknown.exit_code == 2 and "no version 'nope' in the registry" in unknown.output
    store.close()


def test_models_show_is_one_json_object(trained_model: Model, tmp_path: Path) -> None:
    import json

    settings = Settings(home=tmp_path)
    database = ["--database", settings.database, "--models", str(settings.models_dir)]
    first, second = two_models(trained_model, tmp_path / "trained")
    v1 = runner.invoke(app, ["models", "add", str(first), "--promote", *database]).output.split()[1].rstrip(",")
    v2 = runner.invoke(app, ["models", "add", str(second), *database]).output.split()[1]
    runner.invoke(app, ["models", "challenger", v2, *database])
    shown = json.loads(runner.invoke(app, ["models", "show", v1, *database]).stdout)
    assert shown["version"] == v1 and shown["champion"] is True and shown["challenger"] is False
    assert shown["promotions"][0]["reason"] == "added from first" and "review" in shown["thresholds"]
    listed = runner.invoke(app, ["models", "list", *database]).stdout
    assert f"* {v1}" in listed and f"~ {v2}" in listed
