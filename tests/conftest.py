"""Shared fixtures: small deterministic worlds."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudstream.simulate import World, WorldConfig


@pytest.fixture(scope="session")
def world() -> World:
    return World(WorldConfig(customers=2_000, merchants=200, seed=11, fraud_rate=0.02))


@pytest.fixture(scope="session")
def history(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three weeks of the session world: (transactions, labels)."""
    return world.generate(21)
