"""Feature engine semantics: reference agreement on generated streams, parity, idempotence, bounds."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.features import Events, FeatureEngine, FeatureSet
from fraudstream.features.layout import C_MERCHANTS_SLOTS, CUSTOMER_WIDTH, MAX_LABEL_DELAY_DAYS
from fraudstream.schema import Label, Transaction
from fraudstream.simulate import World, WorldConfig, iter_events
from tests.features.conftest import StateFactory
from tests.features.reference import reference_features

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
BASE = int(pd.Timestamp("2026-01-01", tz="UTC").timestamp() * 1000)
ALL_INPUTS = ["customer", "merchant", "terminal", "device", "location", "channel", "category"]
FEATURES = FeatureSet.for_inputs(ALL_INPUTS)
PLACES = [None, (48.85, 2.35), (48.86, 2.36), (40.71, -74.0), (-33.87, 151.21)]
# Times on and next to bucket and window edges, where off-by-one errors live.
EDGES = sorted(
    {k * w + d for w in (5 * MINUTE, HOUR, DAY) for k in (1, 2, 7, 12, 24, 30, 31, 34, 64, 65) for d in (-1, 0, 1)}
)
#: Label delays the matured windows are tried with: none, part of a day, a usual one, the longest.
DELAYS = [0.0, 0.5, 7.0, 11.03, float(MAX_LABEL_DELAY_DAYS)]


def _timestamp(ms: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms", utc=True)


def to_engine_events(stream: pd.DataFrame) -> Events:
    """Reference-style events (in arrival order) as engine events, in the same order."""
    tx = stream[stream["kind"] == "tx"]
    labels = stream[stream["kind"] == "label"]
    parts, positions = [], []
    if len(tx):
        parts.append(Events.from_frame(tx.assign(timestamp=_timestamp(tx["ts"]).to_numpy())))
        positions.append(np.flatnonzero(stream["kind"] == "tx"))
    if len(labels):
        frame = labels.assign(
            reported_at=_timestamp(labels["ts"]).to_numpy(),
            timestamp=_timestamp(labels["labelled_ts"]).to_numpy(),
        )
        parts.append(Events.from_label_frame(frame))
        positions.append(np.flatnonzero(stream["kind"] == "label"))
    events = Events.concat(parts)
    return events.take(np.argsort(np.concatenate(positions), kind="stable"))


def run_in_batches(engine: FeatureEngine, events: Events, cuts: list[int]) -> pd.DataFrame:
    bounds = sorted({0, len(events), *[c for c in cuts if 0 < c < len(events)]})
    parts = [engine.process(events.take(np.arange(a, b))) for a, b in itertools.pairwise(bounds)]
    return pd.DataFrame(np.vstack(parts), columns=engine.features.names)


@st.composite
def event_streams(draw: st.DrawFn) -> pd.DataFrame:
    """Transactions in any order, duplicates, and labels reported at any time (before, at
    and after they mature; across the risk ring's span)."""
    events: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["tx"] * 6 + ["duplicate", "label"]))
        if kind == "duplicate" and transactions:
            events.append(dict(draw(st.sampled_from(transactions))))
        elif kind == "label" and transactions:
            tx = draw(st.sampled_from(transactions))
            delay = draw(st.one_of(st.integers(0, 10 * DAY), st.integers(0, 40 * DAY), st.sampled_from(EDGES)))
            events.append(
                {
                    **tx,
                    "kind": "label",
                    "ts": tx["ts"] + delay,
                    "labelled_ts": tx["ts"],
                    "is_fraud": draw(st.booleans()),
                }
            )
        else:
            place = draw(st.sampled_from(PLACES))
            ts = BASE + draw(st.one_of(st.integers(0, 36 * DAY), st.integers(0, 100 * DAY), st.sampled_from(EDGES)))
            tx = {
                "kind": "tx",
                "transaction_id": f"t{i}",
                "ts": ts,
                "labelled_ts": ts,
                "is_fraud": False,
                "amount": draw(st.integers(0, 5_000)) / 100,
                "latitude": np.nan if place is None else place[0],
                "longitude": np.nan if place is None else place[1],
                "customer_id": draw(st.sampled_from(["c0", "c1", "c2", None])),
                "merchant_id": draw(st.sampled_from(["m0", "m1", "m2", None])),
                "terminal_id": draw(st.sampled_from(["t0", "t1", None])),
                "device_id": draw(st.sampled_from(["d0", "d1", "d2", None])),
            }
            transactions.append(tx)
            events.append(tx)
    return pd.DataFrame(events)


def generated(examples: int) -> Any:
    """Hypothesis settings for the generated streams (a state per example; no deadline)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@generated(200)
@given(stream=event_streams(), cuts=st.lists(st.integers(0, 40), max_size=6), delay=st.sampled_from(DELAYS))
def test_engine_matches_reference_on_generated_streams(
    make_state: StateFactory, stream: pd.DataFrame, cuts: list[int], delay: float
) -> None:
    expected = reference_features(stream, delay)
    if expected.empty:
        return
    features = FeatureSet.for_inputs(ALL_INPUTS, label_delay_days=delay)
    got = run_in_batches(FeatureEngine(features, make_state()), to_engine_events(stream), cuts)
    for name in expected.columns:
        np.testing.assert_allclose(
            got[name].to_numpy(),
            expected[name].to_numpy(dtype=float),
            rtol=1e-7,
            atol=1e-6,
            equal_nan=True,
            err_msg=name,
        )


def run_ahead(engine: FeatureEngine, events: Events, cuts: list[int]) -> pd.DataFrame:
    """As `run_in_batches`, but each batch is read and worked out before the batch before
    it is folded (a worker scoring the next batch while the database stores one)."""
    bounds = sorted({0, len(events), *[c for c in cuts if 0 < c < len(events)]})
    parts = []
    ahead = apply_ahead = None
    for a, b in itertools.pairwise(bounds):
        part = events.take(np.arange(a, b))
        raw, workspace = engine.prepare(part, ahead)
        if apply_ahead is not None:
            apply_ahead.apply().wait()
        apply_ahead, ahead = engine.stage(workspace), workspace
        parts.append(engine.compute(raw, part))
    if apply_ahead is not None:
        apply_ahead.apply().wait()
    return pd.DataFrame(np.vstack(parts), columns=engine.features.names)


@generated(60)
@given(stream=event_streams(), cuts=st.lists(st.integers(0, 40), max_size=8))
def test_a_batch_worked_out_ahead_of_the_fold_before_it_changes_nothing(
    make_state: StateFactory, stream: pd.DataFrame, cuts: list[int]
) -> None:
    events = to_engine_events(stream)
    state, ahead_state = make_state(), make_state()
    expected = run_in_batches(FeatureEngine(FEATURES, state), events, cuts)
    got = run_ahead(FeatureEngine(FEATURES, ahead_state), events, cuts)
    assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)  # bit for bit
    for kind, column in (("customer", "customer_id"), ("merchant", "merchant_id"), ("device", "device_id")):
        for entity in stream[column].dropna().unique():
            row, same = ahead_state.row(kind, entity), state.row(kind, entity)
            assert (row is None and same is None) or np.array_equal(row, same, equal_nan=True), (kind, entity)


def test_online_replay_equals_offline_history(make_state: StateFactory) -> None:
    """A replayed stream, in batches of any size, gets exactly the offline features."""
    world = World(WorldConfig(customers=150, merchants=20, seed=8, fraud_rate=0.05, transactions_per_day=3))
    transactions, labels = world.generate(20)
    features = FeatureSet.for_inputs(ALL_INPUTS, categories=sorted(transactions["merchant_category"].unique()))
    offline = FeatureEngine(features, make_state()).history(transactions, labels)

    engine = FeatureEngine(features, make_state())
    rng = np.random.default_rng(0)
    seen: dict[str, Transaction] = {}
    online: list[np.ndarray] = []
    pending_tx: list[Transaction] = []

    def flush() -> None:
        if pending_tx:
            online.append(engine.process(Events.from_transactions(pending_tx)))
            pending_tx.clear()

    batch = int(rng.integers(1, 200))
    for event in iter_events(world, days=20):
        if isinstance(event, Label):
            flush()  # labels arrive on their own path, between transaction batches
            engine.process(Events.from_labels([(event, seen[event.transaction_id])]))
            continue
        seen[event.transaction_id] = event
        pending_tx.append(event)
        if len(pending_tx) >= batch:
            flush()
            batch = int(rng.integers(1, 200))
    flush()
    online_matrix = np.vstack(online)
    assert online_matrix.shape == offline.shape
    assert np.array_equal(online_matrix, offline, equal_nan=True)  # bit for bit


def _tx_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["timestamp"] = _timestamp(frame.pop("ts")).to_numpy()
    return frame


def test_duplicates_change_nothing(make_state: StateFactory) -> None:
    rows = [
        {
            "transaction_id": f"t{i}",
            "ts": BASE + i * MINUTE,
            "amount": 10.0 + i,
            "customer_id": "c",
            "merchant_id": "m",
        }
        for i in range(5)
    ]
    frame = _tx_frame(rows)
    state = make_state()
    engine = FeatureEngine(FEATURES, state)
    first = engine.process(Events.from_frame(frame))
    before = state.row("customer", "c")
    again = engine.process(Events.from_frame(frame))  # the whole batch redelivered
    assert np.array_equal(state.row("customer", "c"), before, equal_nan=True)
    count = FEATURES.names.index("customer_count_1h")
    assert first[:, count].tolist() == [0, 1, 2, 3, 4]
    assert again[:, count].tolist() == [5, 5, 5, 5, 5]  # read, not folded again
    within = engine.process(Events.from_frame(_tx_frame([rows[0] | {"transaction_id": "x"}] * 3)))
    assert within[:, count].tolist() == [5, 6, 6]  # a copy inside one batch is folded once


def test_label_counts_only_after_it_was_reported(make_state: StateFactory) -> None:
    tx = [{"transaction_id": f"t{i}", "ts": BASE + i * HOUR, "amount": 5.0, "merchant_id": "m"} for i in range(6)]
    transactions = _tx_frame(tx)
    reported = transactions["timestamp"].iloc[3]
    labels = pd.DataFrame({"transaction_id": ["t0"], "is_fraud": [True], "reported_at": [reported]})
    got = pd.DataFrame(FeatureEngine(FEATURES, make_state()).history(transactions, labels), columns=FEATURES.names)
    # t3 is at the very moment the label was reported: it must not see it; t4 must.
    for name in ("merchant_known_frauds_7d", "merchant_frauds_reported_24h", "merchant_frauds_reported_7d"):
        assert got[name].tolist() == [0, 0, 0, 0, 1, 1], name
    assert np.isnan(got["merchant_days_since_known_fraud"].iloc[3])
    assert got["merchant_days_since_known_fraud"].iloc[4:].tolist() == pytest.approx([4 / 24, 5 / 24])


def _risk_history(make_state: StateFactory, delay_days: float, reported_days: list[float]) -> pd.DataFrame:
    """A terminal with ten payments a day for 20 days; the first of day 0's is fraud,
    reported `reported_days` after it (one label per entry, each on its own payment)."""
    tx = [
        {"transaction_id": f"t{d}-{k}", "ts": BASE + d * DAY + k * HOUR, "amount": 5.0, "terminal_id": "term"}
        for d in range(20)
        for k in range(10)
    ]
    transactions = _tx_frame(tx)
    labels = pd.DataFrame(
        {
            "transaction_id": [f"t0-{k}" for k in range(len(reported_days))],
            "is_fraud": True,
            "reported_at": [
                pd.Timestamp(BASE + k * HOUR + round(r * DAY), unit="ms", tz="UTC") for k, r in enumerate(reported_days)
            ],
        }
    )
    features = FeatureSet.for_inputs(["terminal"], label_delay_days=delay_days)
    got = FeatureEngine(features, make_state()).history(transactions, labels)
    frame = pd.DataFrame(got, columns=features.names)
    frame["day"] = [d for d in range(20) for _ in range(10)]
    return frame.groupby("day").first()  # each day's first payment (at midnight)


def test_matured_windows_end_one_label_delay_before_now(make_state: StateFactory) -> None:
    days = _risk_history(make_state, delay_days=3.0, reported_days=[1.0, 5.0])
    # Day 0's payments mature on day 3: before, the 1-day window covers days with no history yet.
    assert np.isnan(days.loc[2, "terminal_matured_fraud_rate_1d"])
    assert days.loc[3, "terminal_matured_payments_1d"] == 10
    # On day 3 the label reported on day 1 is in, the one reported on day 5 is not yet.
    assert days.loc[3, "terminal_matured_fraud_rate_1d"] == pytest.approx(1 / 10)
    assert days.loc[4, "terminal_matured_fraud_rate_1d"] == 0.0  # the window has moved on to day 1
    assert days.loc[5, "terminal_matured_fraud_rate_7d"] == pytest.approx(1 / 30)  # days 0-2, before the 2nd report
    assert days.loc[6, "terminal_matured_fraud_rate_7d"] == pytest.approx(2 / 40)  # days 0-3, both reports in
    assert days.loc[12, "terminal_matured_fraud_rate_7d"] == 0.0  # days 3-9: day 0 has left the window
    assert days.loc[12, "terminal_matured_fraud_rate_30d"] == pytest.approx(2 / 100)  # days 0-9


def test_frauds_known_and_reported_by_window(make_state: StateFactory) -> None:
    days = _risk_history(make_state, delay_days=7.0, reported_days=[0.5, 2.5])
    assert days["terminal_known_frauds_7d"].tolist()[:9] == [0, 1, 1, 2, 2, 2, 2, 0, 0]  # payment days 0..6
    assert days["terminal_frauds_reported_24h"].tolist()[:5] == [0, 1, 0, 1, 0]
    assert days["terminal_frauds_reported_7d"].tolist()[:10] == [0, 1, 1, 2, 2, 2, 2, 1, 1, 0]
    assert days.loc[1, "terminal_days_since_known_fraud"] == pytest.approx(1.0)  # the fraud paid at day 0, 00:00
    assert days.loc[3, "terminal_days_since_known_fraud"] == pytest.approx(3 - 1 / 24)  # the later one, at 01:00


def test_label_delay_is_bounded_by_what_the_state_keeps() -> None:
    with pytest.raises(ValueError, match=f"between 0 and {MAX_LABEL_DELAY_DAYS} days"):
        FeatureSet.for_inputs(ALL_INPUTS, label_delay_days=MAX_LABEL_DELAY_DAYS + 1)


def test_state_is_bounded_and_windows_expire(make_state: StateFactory) -> None:
    tx = [
        {
            "transaction_id": f"t{i}",
            "ts": BASE + i * DAY,
            "amount": 1.0,
            "customer_id": "c",
            "merchant_id": f"m{i}",
        }
        for i in range(120)
    ]
    state = make_state()
    got = pd.DataFrame(FeatureEngine(FEATURES, state).history(_tx_frame(tx)), columns=FEATURES.names)
    row = state.row("customer", "c")
    assert row is not None and row.shape == (CUSTOMER_WIDTH,)
    assert got["customer_count_30d"].iloc[-1] == 29  # the 29 days before, not all 119
    assert got["customer_count_7d"].iloc[-1] == 6
    assert got["customer_seconds_since_previous"].iloc[-1] == 86_400


def test_distinct_counts_saturate_at_table_capacity(make_state: StateFactory) -> None:
    n = C_MERCHANTS_SLOTS + 10
    tx = [
        {
            "transaction_id": f"t{i}",
            "ts": BASE + i * MINUTE,
            "amount": 1.0,
            "customer_id": "c",
            "merchant_id": f"m{i}",
        }
        for i in range(n)
    ] + [
        {
            "transaction_id": "old",
            "ts": BASE + n * MINUTE,
            "amount": 1.0,
            "customer_id": "c",
            "merchant_id": "m0",
        },
        {
            "transaction_id": "recent",
            "ts": BASE + n * MINUTE,
            "amount": 1.0,
            "customer_id": "c",
            "merchant_id": f"m{n - 1}",
        },
    ]
    got = pd.DataFrame(FeatureEngine(FEATURES, make_state()).history(_tx_frame(tx)), columns=FEATURES.names)
    assert got["customer_distinct_merchants_24h"].iloc[n - 1] == C_MERCHANTS_SLOTS
    assert got["customer_new_merchant"].iloc[n] == 1.0  # m0 was evicted as the least recent
    assert got["customer_new_merchant"].iloc[n + 1] == 0.0


def test_late_event_sees_only_what_came_before_its_bucket(make_state: StateFactory) -> None:
    rows = [
        {"transaction_id": "a", "ts": BASE, "amount": 1.0, "customer_id": "c"},
        {"transaction_id": "b", "ts": BASE + 5 * HOUR, "amount": 2.0, "customer_id": "c"},
        {"transaction_id": "late", "ts": BASE + 2 * HOUR, "amount": 4.0, "customer_id": "c"},
    ]
    got = pd.DataFrame(
        FeatureEngine(FEATURES, make_state()).process(Events.from_frame(_tx_frame(rows))), columns=FEATURES.names
    )
    late = got.iloc[2]
    assert late["customer_count_24h"] == 1  # "b" is in a later bucket: excluded
    assert np.isnan(late["customer_seconds_since_previous"])  # the latest known payment is later
    assert late["customer_first_transaction"] == 0.0


def test_missing_inputs_leave_features_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        features = FeatureSet.for_inputs([], extras=["V1", "V2"])
    assert set(features.names) == {"amount", "hour_of_day", "is_night", "is_weekend", "V1", "V2"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("need customer: the data has no customer_id column" in m for m in messages)
    assert len(messages) == len({m.split(" need ")[1] for m in messages})  # one line per missing input
    frame = _tx_frame([{"transaction_id": "t", "ts": BASE, "amount": 3.0, "V1": 0.5, "V2": -1.0}])
    got = FeatureEngine(features).history(frame)
    assert got[0, features.names.index("V2")] == -1.0


def test_feature_set_round_trips_and_rejects_unknown_features() -> None:
    features = FeatureSet.for_inputs(ALL_INPUTS, extras=["V1"], categories=["b", "a"])
    assert FeatureSet.from_json(features.to_json()) == features
    with pytest.raises(ValueError, match="does not compute: customer_shoe_size"):
        FeatureSet.from_json({**features.to_json(), "names": [*features.names, "customer_shoe_size"]})
    with pytest.raises(ValueError, match="clash"):
        FeatureSet.for_inputs([], extras=["amount"])


def test_ties_are_broken_by_arrival_order(make_state: StateFactory) -> None:
    rows = [
        {
            "transaction_id": "a",
            "ts": BASE,
            "amount": 1.0,
            "customer_id": "c",
            "latitude": 48.85,
            "longitude": 2.35,
        },
        {
            "transaction_id": "b",
            "ts": BASE,
            "amount": 1.0,
            "customer_id": "c",
            "latitude": 40.71,
            "longitude": -74.0,
        },
        {
            "transaction_id": "x",
            "ts": BASE + 30 * MINUTE,
            "amount": 1.0,
            "customer_id": "c",
            "latitude": 40.71,
            "longitude": -74.0,
        },
    ]
    got = pd.DataFrame(FeatureEngine(FEATURES, make_state()).history(_tx_frame(rows)), columns=FEATURES.names)
    assert got["customer_count_1h"].tolist() == [0, 1, 2]  # "b" sees "a": same time, arrived first
    # The previous payment is "b", the later arrival of the two.
    assert got["customer_distance_previous_km"].iloc[2] == pytest.approx(0.0)
