"""A challenger scored in shadow beside every decision, and compared with the champion."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from fraudstream.api import create_app
from fraudstream.config import Settings
from fraudstream.lifecycle.registry import Registry
from fraudstream.lifecycle.shadow import Challenger, ChallengerMismatchError
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.runtime import build_runtime
from fraudstream.schema import Label
from fraudstream.store import Store
from tests.api.test_api import tx
from tests.lifecycle.test_registry import two_models


def test_a_challenger_scores_every_decision_in_shadow_and_is_compared(trained_model: Model, tmp_path: Path) -> None:
    first, second = two_models(trained_model, tmp_path / "trained")
    settings = Settings(home=tmp_path, rules_refresh_s=0.01)
    registry = Registry(settings.models_dir)
    v1, v2 = registry.add(first), registry.add(second)
    store = Store(settings.database)
    store.champions.promote(v1, "first")
    with pytest.raises(ModelLoadError, match="not registered"):
        build_runtime(settings.model_copy(update={"challenger": "nope-0000000000"}))
    runtime = build_runtime(settings)
    runtime.start()
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            assert client.put("/v1/models/challenger", json={"version": "nope"}).status_code == 404
            assert client.put("/v1/models/challenger", json={"version": v2}).json() == {"challenger": v2}
            time.sleep(0.02)
            decided = client.post("/v1/score", json=[tx(i, amount=20.0 + 40 * i) for i in range(30)]).json()
            assert {d["model_version"] for d in decided} == {v1}  # the champion decides; the challenger is silent
            with store.engine.connect() as c:
                shadow = c.execute(sa.text("SELECT version, outcome FROM shadow_scores")).all()
            assert len(shadow) == 30 and {v for v, _ in shadow} == {v2} and {o for _, o in shadow} == {"review"}
            models = client.get("/v1/models").json()
            assert models["challenger"] == v2 and models["in_force"] == v1

            # As if these had been decided three weeks ago, and some confirmed fraud since.
            old = datetime.now(UTC) - timedelta(days=21)
            with store.engine.begin() as c:
                for table in ("shadow_scores", "decisions"):
                    c.execute(sa.text(f"UPDATE {table} SET decided_at = :t"), {"t": old.replace(tzinfo=None)})
            store.add_labels(
                [Label(transaction_id=f"api-{i}", is_fraud=True, reported_at=datetime.now(UTC)) for i in (25, 27, 29)]
            )
            report = client.get("/v1/models/compare", params={"since": (old - timedelta(hours=1)).isoformat()}).json()
            assert report["challenger"] == v2 and report["champions"] == [v1] and report["payments"] == 30
            assert report["score_correlation"] == pytest.approx(1.0)  # the same booster, other thresholds
            assert report["outcomes"]["challenger"] == {"review": 30} and report["agreement"] < 1
            matured = report["matured"]
            assert matured["frauds"] == 3
            assert matured["challenger"]["fraud_caught"] == 3  # it reviews everything
            assert matured["champion"]["average_precision"] == matured["challenger"]["average_precision"]
            assert client.put("/v1/models/challenger", json={"version": None}).json() == {"challenger": None}
    finally:
        runtime.stop()
        store.close()


def test_a_challenger_that_reads_the_state_otherwise_is_refused(trained_model: Model) -> None:
    other = dataclasses.replace(
        trained_model, features=dataclasses.replace(trained_model.features, label_delay_days=2.0)
    )
    with pytest.raises(ChallengerMismatchError, match="label delay"):
        Challenger(other, trained_model)
