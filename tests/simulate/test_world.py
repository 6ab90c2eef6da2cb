from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.geo import haversine_km
from fraudstream.simulate import SCENARIOS, World, WorldConfig
from fraudstream.simulate.world import ScenarioMix


@pytest.fixture(scope="module")
def labelled(history: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Transactions with their label columns (scenario NaN for legitimate ones)."""
    transactions, labels = history
    return transactions.merge(labels, on="transaction_id", how="left")


def test_same_seed_same_world() -> None:
    config = WorldConfig(customers=300, merchants=40, seed=5)
    a_tx, a_lab = World(config).generate(3)
    b_tx, b_lab = World(config).generate(3)
    pd.testing.assert_frame_equal(a_tx, b_tx)
    pd.testing.assert_frame_equal(a_lab, b_lab)
    c_tx, _ = World(config.model_copy(update={"seed": 6})).generate(3)
    assert not a_tx["amount"].equals(c_tx["amount"])


def test_days_generate_independently(world: World, history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, labels = history
    day5_tx, day5_labels = world.day(5)
    start = world.config.start + pd.Timedelta(days=5)
    in_day = transactions[(transactions.timestamp >= start) & (transactions.timestamp < start + pd.Timedelta(days=1))]
    pd.testing.assert_frame_equal(day5_tx, in_day.reset_index(drop=True))
    assert set(day5_labels.transaction_id) <= set(labels.transaction_id)


def test_history_is_ordered_unique_and_valid(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, labels = history
    assert transactions["timestamp"].is_monotonic_increasing
    assert transactions["transaction_id"].is_unique
    assert (transactions["amount"] > 0).all()
    assert transactions["latitude"].between(-90, 90).all() and transactions["longitude"].between(-180, 180).all()
    card_present = transactions["channel"] == "card_present"
    assert transactions.loc[card_present, "terminal_id"].notna().all()
    assert transactions.loc[~card_present, "device_id"].notna().all()
    assert set(labels["transaction_id"]) <= set(transactions["transaction_id"])


def test_weekly_seasonality(world: World) -> None:
    transactions, _ = World(world.config.model_copy(update={"customers": 6_000})).generate(14)
    per_weekday = transactions.groupby(transactions["timestamp"].dt.day_of_week).size()
    assert per_weekday[5] > 1.15 * per_weekday[6]  # Saturdays busier than Sundays


def test_fraud_rate_is_near_configured() -> None:
    transactions, labels = World(WorldConfig(customers=4_000, merchants=300, seed=3)).generate(21)
    assert 0.004 < len(labels) / len(transactions) < 0.012


def test_every_scenario_present_and_labelled(labelled: pd.DataFrame) -> None:
    fraud = labelled[labelled["is_fraud"].eq(True)]
    assert set(fraud["scenario"]) == set(SCENARIOS)
    assert (fraud.groupby("scenario").size() >= 10).all()


def test_labels_arrive_later(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, labels = history
    joined = labels.merge(transactions[["transaction_id", "timestamp"]], on="transaction_id")
    delay_days = (joined["reported_at"] - joined["timestamp"]).dt.total_seconds() / 86_400
    assert (delay_days > 0).all()
    assert 2 < delay_days.median() < 10


def test_card_testing_is_tiny_amounts_at_distinct_merchants_within_minutes(
    labelled: pd.DataFrame,
) -> None:
    probes = labelled[(labelled["scenario"] == "card_testing") & (labelled["amount"] < 2.5)]
    for _, burst in probes.groupby(["customer_id", probes["timestamp"].dt.date]):
        if len(burst) < 6:
            continue  # a burst cut by midnight
        span = burst["timestamp"].max() - burst["timestamp"].min()
        assert span < pd.Timedelta(minutes=30)
        assert burst["merchant_id"].nunique() >= 0.8 * len(burst)
    bigs = labelled[(labelled["scenario"] == "card_testing") & (labelled["amount"] >= 100)]
    assert len(bigs) > 0


def test_geo_anomaly_implies_impossible_travel(labelled: pd.DataFrame) -> None:
    by_customer = labelled.sort_values("timestamp", kind="stable").groupby("customer_id")
    previous = by_customer[["timestamp", "latitude", "longitude", "scenario"]].shift(1)
    hours = (labelled["timestamp"] - previous["timestamp"]).dt.total_seconds() / 3600
    km = haversine_km(labelled["latitude"], labelled["longitude"], previous["latitude"], previous["longitude"])
    speed = pd.Series(km, index=labelled.index) / hours.clip(lower=1 / 3600)
    # The first payment of a cloned card far away; a second one may follow in the same city.
    geo = (labelled["scenario"] == "geo_anomaly") & (previous["scenario"] != "geo_anomaly")
    assert geo.sum() > 20
    assert (speed[geo] > 1000).mean() > 0.95
    assert (speed[labelled["is_fraud"].isna()] > 1000).mean() < 0.02


def test_account_takeover_new_device_far_away_high_amounts(world: World, labelled: pd.DataFrame) -> None:
    ato = labelled[labelled["scenario"] == "account_takeover"]
    legit = labelled[labelled["is_fraud"].isna()]
    own_devices = legit.groupby("customer_id")["device_id"].agg(set)
    new_device = [d not in own_devices.get(c, set()) for c, d in zip(ato["customer_id"], ato["device_id"], strict=True)]
    assert np.mean(new_device) > 0.99
    customer = ato["customer_id"].str[1:].astype(int).to_numpy()
    km = haversine_km(ato["latitude"], ato["longitude"], world.home_lat[customer], world.home_lon[customer])
    assert (km > 1000).mean() > 0.95
    typical = legit.groupby("customer_id")["amount"].median()
    ratio = ato["amount"].to_numpy() / typical.reindex(ato["customer_id"]).to_numpy()
    assert np.nanmedian(ratio) > 4


def test_compromised_terminals_turn_fraudulent_for_days(labelled: pd.DataFrame) -> None:
    hit = labelled[labelled["scenario"] == "compromised_terminal"]
    assert hit["channel"].eq("card_present").all()
    per_terminal = hit.groupby("terminal_id")["timestamp"].agg(["size", "min", "max"])
    assert (per_terminal["max"] - per_terminal["min"]).max() > pd.Timedelta(days=2)
    # During a compromise a large share of the terminal's payments is fraud.
    busiest = per_terminal["size"].idxmax()
    at_terminal = labelled[labelled["terminal_id"] == busiest]
    window = at_terminal["timestamp"].between(per_terminal.loc[busiest, "min"], per_terminal.loc[busiest, "max"])
    assert at_terminal.loc[window, "is_fraud"].eq(True).mean() > 0.25


def test_amount_outliers_dwarf_the_usual(labelled: pd.DataFrame) -> None:
    outliers = labelled[labelled["scenario"] == "amount_outlier"]
    typical = labelled[labelled["is_fraud"].isna()].groupby("customer_id")["amount"].median()
    ratio = outliers["amount"].to_numpy() / typical.reindex(outliers["customer_id"]).to_numpy()
    assert np.nanmedian(ratio) > 10


def test_scenario_mix_can_switch_scenarios_off() -> None:
    mix = ScenarioMix(account_takeover=1, card_testing=0, compromised_terminal=0, geo_anomaly=0, amount_outlier=0)
    _, labels = World(WorldConfig(customers=500, merchants=50, mix=mix, fraud_rate=0.05)).generate(3)
    assert set(labels["scenario"]) == {"account_takeover"}
    with pytest.raises(ValueError, match="positive share"):
        ScenarioMix(
            account_takeover=0,
            card_testing=0,
            compromised_terminal=0,
            geo_anomaly=0,
            amount_outlier=0,
        )


def test_tiny_world_still_works() -> None:
    transactions, _ = World(WorldConfig(customers=1, merchants=1, fraud_rate=0.3)).generate(5)
    assert len(transactions) > 0
