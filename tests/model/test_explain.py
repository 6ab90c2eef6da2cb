"""Reasons an analyst can act on: each against a norm, in the score's direction, none about what the payment lacks."""

from __future__ import annotations

import numpy as np
import pytest

from fraudstream.features import FeatureSet
from fraudstream.features.definitions import PER_PAYMENT_INPUTS
from fraudstream.features.norms import Norms
from fraudstream.model.explain import LOWERING, top_reasons

ALL_INPUTS = ["customer", "merchant", "terminal", "device", "location", "channel", "category"]


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    """Every feature, with norms from a population: 1,000 payments of amount 1..1000, 1 % fraud."""
    bare = FeatureSet.for_inputs(ALL_INPUTS, categories=["electronics", "grocery"], label_delay_days=11.0)
    rng = np.random.default_rng(0)
    X = np.zeros((1_000, len(bare.names)))
    X[:, bare.names.index("amount")] = np.arange(1, 1_001)
    X[:, bare.names.index("merchant_category_code")] = np.arange(1_000) % 2
    X[:, bare.names.index("customer_new_device")] = np.arange(1_000) < 30
    X[:, bare.names.index("terminal_days_since_known_fraud")] = np.where(np.arange(1_000) < 50, 3.0, np.nan)
    X[:, bare.names.index("hour_of_day")] = rng.uniform(0, 24, 1_000)
    y = np.arange(1_000) % 100 == 0  # 1 %, all in electronics (even codes)
    return bare.with_norms(Norms.of(bare.names, X, y, bare.categories))


def row_of(features: FeatureSet, **values: float) -> np.ndarray:
    row = np.full(len(features.names), np.nan)
    for name, value in values.items():
        row[features.names.index(name)] = value
    return row


def reasons_for(
    features: FeatureSet, row: np.ndarray, pushes: dict[str, float], flagged: bool = True, **present: bool
) -> list[str]:
    contributions = np.zeros((1, len(features.names) + 1))
    for name, push in pushes.items():
        contributions[0, features.names.index(name)] = push
    has = {need: np.array([present.get(need, True)]) for need in PER_PAYMENT_INPUTS}
    (reasons,) = top_reasons(features, row[None, :], contributions, np.array([flagged]), has)
    return [r.text for r in reasons]


def test_every_reason_compares_the_payment_with_a_norm(features: FeatureSet) -> None:
    row = row_of(
        features,
        amount=950.0,
        customer_mean_30d=45.77,
        amount_to_customer_mean_30d=950.0 / 45.77,
        terminal_matured_payments_7d=31.0,
        terminal_matured_fraud_rate_7d=4 / 31,
        merchant_category_code=0.0,
    )
    pushes = {"amount": 2.0, "amount_to_customer_mean_30d": 3.0, "terminal_matured_fraud_rate_7d": 1.5}
    assert reasons_for(features, row, pushes) == [
        "amount 950.00 is 20.8× this customer's 30-day average (45.77)",
        "amount 950.00, more than for 90% of payments",
        "this terminal had 4 confirmed frauds among its 31 matured payments in 7d (13%, against 1% of all payments)",
    ]
    category = reasons_for(features, row, {"merchant_category_code": 1.0})
    assert category == ["merchant category electronics, where 2% of training payments were fraud (against 1% of all)"]


def test_flags_say_how_common_they_are(features: FeatureSet) -> None:
    row = row_of(features, customer_new_device=1.0, customer_count_30d=12.0)
    assert reasons_for(features, row, {"customer_new_device": 1.0}) == [
        "a device this customer has not used in 30 days, like 3% of payments"
    ]


def test_counts_are_read_against_the_entitys_own_month(features: FeatureSet) -> None:
    row = row_of(features, customer_count_1h=5.0, customer_count_30d=36.0, terminal_count_1d=1.0)
    assert reasons_for(features, row, {"customer_count_1h": 2.0, "terminal_count_1d": 1.0}) == [
        "5 payments by this customer in the last hour, against 0.1 in an average hour of the last 30 days",
        "1 payment at this terminal in the last day, more than for any payment in training",
    ]


def test_a_fresh_fraud_on_the_entity_is_dated_and_its_rarity_said(features: FeatureSet) -> None:
    row = row_of(features, terminal_days_since_known_fraud=1.5, terminal_count_30d=100.0)
    assert reasons_for(features, row, {"terminal_days_since_known_fraud": 2.0}) == [
        "a payment made at this terminal 1.5 d earlier is confirmed fraud; "
        "for 95% of payments none is known on their terminal in 64 days"
    ]


def test_nothing_about_an_entity_the_payment_does_not_have(features: FeatureSet) -> None:
    row = row_of(features, amount=950.0, terminal_count_7d=np.nan, terminal_mean_amount_7d=np.nan)
    pushes = {"terminal_count_7d": 2.0, "terminal_mean_amount_7d": 1.5, "amount": 1.0}
    assert reasons_for(features, row, pushes, terminal=False) == ["amount 950.00, more than for 90% of payments"]
    # With a terminal that has no history, the missing value is itself the reason.
    assert reasons_for(features, row, pushes)[:2] == [
        "not known",
        "no payments at this terminal in the last 7 days",
    ]


def test_the_same_text_is_never_given_twice(features: FeatureSet) -> None:
    row = row_of(features, customer_mean_7d=np.nan, customer_max_7d=np.nan, amount=10.0)
    texts = reasons_for(features, row, {"customer_mean_7d": 3.0, "customer_max_7d": 2.0, "amount": 1.0})
    assert texts == ["no payments by this customer in the last 7 days", "amount 10.00, less than for 99% of payments"]


def test_approvals_show_what_lowered_the_score_unless_it_was_raised(features: FeatureSet) -> None:
    row = row_of(
        features, customer_new_device=0.0, amount=2_500.0, customer_distance_usual_km=8_000.0, customer_count_30d=20.0
    )
    calm = {"customer_new_device": -1.0, "amount": 0.4}
    assert reasons_for(features, row, calm, flagged=False) == [
        LOWERING + "a device this customer used in the last 30 days, like 97% of payments"
    ]
    # A risky approval (its contributions sum above zero) shows what raised it.
    risky = {"customer_new_device": -0.5, "amount": 0.8, "customer_distance_usual_km": 1.2}
    texts = reasons_for(features, row, risky, flagged=False)
    assert texts[0].startswith("8,000 km from where this customer usually pays")
    assert texts[1] == "amount 2,500.00, more than for any payment in training"
    assert not any(t.startswith(LOWERING) for t in texts)


def test_a_fact_that_reads_the_other_way_is_no_reason(features: FeatureSet) -> None:
    row = row_of(
        features,
        terminal_known_frauds_7d=2.0,
        terminal_days_since_known_fraud=3.0,
        terminal_frauds_reported_7d=0.0,
        merchant_category_code=1.0,  # grocery: no fraud in training
        amount=20.0,
    )
    calm = {
        "terminal_known_frauds_7d": -2.0,
        "terminal_days_since_known_fraud": -1.5,
        "terminal_frauds_reported_7d": -1.0,
    }
    # A known fraud never reads as lowering risk; none reported does.
    assert reasons_for(features, row, calm, flagged=False) == [
        LOWERING + "no frauds on this terminal reported in the last 7 days"
    ]
    # A category safer than average is no reason for a flag.
    assert reasons_for(features, row, {"merchant_category_code": 2.0, "amount": 1.0}) == [
        "amount 20.00, less than for 98% of payments"
    ]


def test_habits_are_spoken_of_only_where_there_are_some(features: FeatureSet) -> None:
    one_before = row_of(
        features, customer_seconds_since_previous=120.0, customer_count_30d=1.0, customer_distance_usual_km=5_837.0
    )
    texts = reasons_for(
        features, one_before, {"customer_seconds_since_previous": 2.0, "customer_distance_usual_km": 1.0}
    )
    assert texts[0].startswith("2.0 min after this customer's previous payment") and "on average" not in texts[0]
    assert texts[1].startswith("5,837 km from where this customer paid in the last 30 days")
    regular = row_of(
        features,
        customer_seconds_since_previous=120.0,
        customer_count_30d=30.0,
        amount_zscore_customer_30d=-0.5,
        amount=29.09,
        customer_mean_30d=40.0,
    )
    texts = reasons_for(features, regular, {"customer_seconds_since_previous": 2.0, "amount_zscore_customer_30d": 1.0})
    assert texts == [
        "2.0 min after this customer's previous payment; over the last 30 days they paid every 1.0 d on average",
        "amount 29.09 is 0.5 standard deviations below this customer's 30-day average (40.00)",
    ]


def test_what_the_entity_usually_does_is_no_reason_for_a_flag(features: FeatureSet) -> None:
    row = row_of(
        features,
        amount=500.0,
        merchant_mean_amount_7d=24.85,
        merchant_mean_amount_30d=26.39,
        customer_count_24h=1.0,
        customer_count_30d=30.0,
        customer_distance_usual_km=8_000.0,
    )
    pushes = {"merchant_mean_amount_7d": 2.0, "customer_count_24h": 1.5, "amount": 1.2, "customer_distance_usual_km": 1}
    texts = reasons_for(features, row, pushes)
    assert len(texts) == 1 and texts[0].startswith("8,000 km from where this customer usually pays")
    # The same facts lower the score of an approval, and say so.
    calm = {name: -push for name, push in pushes.items()}
    assert reasons_for(features, row, calm, flagged=False)[:2] == [
        LOWERING + "this merchant's average payment in the last 7 days is 24.85, against 26.39 over the last 30 days",
        LOWERING + "1 payment by this customer in the last 24 hours, against 1.0 in an average day of the last 30 days",
    ]
