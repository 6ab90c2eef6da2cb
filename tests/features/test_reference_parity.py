"""The engine agrees with the brute-force reference, offline and online."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.features import FeatureEngine, FeatureSet
from fraudstream.simulate import World, WorldConfig
from tests.features.conftest import StateFactory
from tests.features.reference import history_to_events, reference_features

ALL_INPUTS = ["customer", "merchant", "terminal", "device", "location", "channel", "category"]


def assert_features_match(engine_features: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(engine_features) == len(expected)
    for name in expected.columns:
        got, want = engine_features[name].to_numpy(), expected[name].to_numpy(dtype=float)
        # Sums of squares vs. pandas' two-pass variance: round-off only.
        rtol = 1e-7 if "std" in name or "zscore" in name else 1e-9
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6, equal_nan=True, err_msg=name)


@pytest.fixture(scope="module")
def small_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A busy little world: few customers and shops, so windows and labels interact."""
    world = World(WorldConfig(customers=25, merchants=8, seed=3, fraud_rate=0.08, transactions_per_day=4))
    transactions, labels = world.generate(45)
    return transactions, labels


def test_engine_matches_reference_on_simulated_history(
    make_state: StateFactory, small_history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    transactions, labels = small_history
    assert len(transactions) > 4_000 and len(labels) > 250
    categories = sorted(transactions["merchant_category"].unique())
    features = FeatureSet.for_inputs(ALL_INPUTS, categories=categories, label_delay_days=5.0)
    # Small batches: with Redis, every batch is a real read and merge.
    engine = FeatureEngine(features, make_state())
    got = pd.DataFrame(engine.history(transactions, labels, batch=500), columns=features.names)
    expected = reference_features(history_to_events(transactions, labels), delay_days=5.0)
    for reaching in ("merchant_matured_fraud_rate_30d", "customer_known_frauds_7d", "device_frauds_reported_7d"):
        assert (got[reaching] > 0).any(), f"labels must reach {reaching}"
    assert_features_match(got, expected)
