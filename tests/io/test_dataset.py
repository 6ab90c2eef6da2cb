from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.features.definitions import DEFAULT_LABEL_DELAY_DAYS
from fraudstream.features.layout import MAX_LABEL_DELAY_DAYS
from fraudstream.io import write_frame
from fraudstream.io.dataset import (
    LABEL_DELAY_QUANTILE,
    BadDataError,
    estimate_label_delay,
    load_dataset,
    parse_mapping,
)
from fraudstream.simulate.ulb import ulb_like


@pytest.fixture
def foreign_csv(tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]) -> Path:
    """The simulated history under other column names, labels as a column, epoch seconds."""
    transactions, labels = history
    frame = transactions.head(3_000).rename(
        columns={"transaction_id": "id", "timestamp": "when", "amount": "value", "customer_id": "card"}
    )
    frame["when"] = frame["when"].astype("int64") // 10**6
    frame["fraud"] = frame["id"].isin(labels["transaction_id"]).astype(int)
    path = tmp_path / "foreign.csv"
    write_frame(frame, path)
    return path


MAPPING = ["transaction_id=id", "timestamp=when", "amount=value", "customer_id=card", "is_fraud=fraud"]


def test_mapped_columns_and_label_column(foreign_csv: Path) -> None:
    data = load_dataset(foreign_csv, mapping=parse_mapping(MAPPING), label_delay_days=3)
    tx = data.transactions
    assert {"customer", "merchant", "terminal", "device", "location", "channel", "category"} <= data.inputs
    assert tx["timestamp"].dt.tz is not None and tx["timestamp"].is_monotonic_increasing
    assert data.labels is not None and data.labels["is_fraud"].all()
    delay = data.labels.merge(tx, on="transaction_id").eval("reported_at - timestamp")
    assert (delay == pd.Timedelta(days=3)).all()
    assert data.is_fraud.sum() == len(data.labels) > 0


def test_minimal_history_needs_only_time_and_amount(tmp_path: Path) -> None:
    path = tmp_path / "min.csv"
    pd.DataFrame({"timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00+02:00"], "amount": [1, 2.5]}).to_csv(
        path, index=False
    )
    data = load_dataset(path)
    assert data.inputs == frozenset()
    assert data.transactions["transaction_id"].tolist() == ["0", "1"]  # row numbers
    assert data.labels is None
    with pytest.raises(BadDataError, match="no labels"):
        _ = data.is_fraud


@pytest.mark.parametrize(
    ("values", "unit", "start", "first"),
    [
        (["2026-01-01 00:00:05"], "auto", None, "2026-01-01T00:00:05"),  # naive ISO: UTC
        ([1767225605], "auto", None, "2026-01-01T00:00:05"),
        ([1767225605000], "auto", None, "2026-01-01T00:00:05"),
        ([5], "offset-s", "2026-01-01", "2026-01-01T00:00:05"),
    ],
)
def test_timestamp_formats(tmp_path: Path, values: list[object], unit: str, start: str | None, first: str) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"timestamp": values, "amount": [1.0]}).to_csv(path, index=False)
    origin = pd.Timestamp(start, tz="UTC").to_pydatetime() if start else None
    data = load_dataset(path, time_unit=unit, start=origin)  # type: ignore[arg-type]
    assert data.transactions["timestamp"].iloc[0] == pd.Timestamp(first, tz="UTC")


def test_bad_rows_are_named_or_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "timestamp": [
                "2026-01-01T00:00:00Z",
                "not a time",
                "2026-01-01T00:02:00Z",
                "2026-01-01T00:03:00Z",
            ],
            "amount": ["1.0", "2.0", "three", "-4"],
            "channel": ["online", "online", "online", "pigeon"],
        }
    ).to_csv(path, index=False)
    with pytest.raises(BadDataError, match=r"row 2, column 'timestamp': 'not a time' is not an ISO 8601 time"):
        load_dataset(path)
    data = load_dataset(path, on_error="skip")
    assert len(data.transactions) == 1 and data.skipped_rows == 3
    assert any("amount: is not a number" in note for note in data.notes)
    assert any("amount: is outside" in note for note in data.notes)


def test_ulb_preset(tmp_path: Path) -> None:
    path = tmp_path / "creditcard.csv"
    write_frame(ulb_like(2_000, fraud_rate=0.02, seed=1), path)
    data = load_dataset(path, preset="ulb")
    assert data.extras == tuple(f"V{i}" for i in range(1, 29))
    assert data.inputs == frozenset()
    assert data.transactions["timestamp"].iloc[0] == pd.Timestamp("2013-09-01", tz="UTC")
    assert data.is_fraud.sum() == ulb_like(2_000, fraud_rate=0.02, seed=1)["Class"].sum()


def test_separate_labels_file(tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, labels = history
    write_frame(transactions, tmp_path / "h.parquet")
    write_frame(labels[["transaction_id"]], tmp_path / "l.csv")  # no is_fraud, no reported_at
    paid = transactions.set_index("transaction_id")["timestamp"]
    for given, expected in ((10, 10.0), (0.5, 0.5), (None, DEFAULT_LABEL_DELAY_DAYS)):
        data = load_dataset(tmp_path / "h.parquet", labels_path=tmp_path / "l.csv", label_delay_days=given)
        assert data.labels is not None and len(data.labels) == len(labels)
        assert data.labels["is_fraud"].all()
        # Known exactly the delay after the payment: never sooner (that would leak the
        # label into the features of the payments in between).
        waited = pd.to_datetime(data.labels["reported_at"], utc=True) - pd.to_datetime(
            data.labels["transaction_id"].map(paid), utc=True
        )
        assert (waited == pd.Timedelta(days=expected)).all(), given
        assert data.label_delay.days == expected
    write_frame(labels, tmp_path / "full.parquet")
    full = load_dataset(tmp_path / "h.parquet", labels_path=tmp_path / "full.parquet")
    assert full.labels is not None
    np.testing.assert_array_equal(
        full.labels["reported_at"].to_numpy(),
        labels["reported_at"].astype(full.labels["reported_at"].dtype).to_numpy(),
    )


def test_mapping_and_column_errors(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="canonical=COLUMN"):
        parse_mapping(["amount"])
    with pytest.raises(BadDataError, match="'price' is not a field"):
        parse_mapping(["price=Amount"])
    path = tmp_path / "x.csv"
    pd.DataFrame({"when": ["2026-01-01T00:00:00Z"], "amount": [1]}).to_csv(path, index=False)
    with pytest.raises(BadDataError, match="no timestamp column"):
        load_dataset(path)
    with pytest.raises(BadDataError, match="no column 'time'"):
        load_dataset(path, mapping={"timestamp": "time"})
    with pytest.raises(BadDataError, match="unknown preset"):
        load_dataset(path, preset="nope")


def test_label_delay_is_estimated_from_when_labels_were_reported(
    tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    transactions, labels = history
    write_frame(transactions, tmp_path / "h.parquet")
    write_frame(labels, tmp_path / "l.parquet")
    data = load_dataset(tmp_path / "h.parquet", labels_path=tmp_path / "l.parquet")
    paid = transactions.set_index("transaction_id")["timestamp"]
    delays = (labels["reported_at"] - labels["transaction_id"].map(paid)) / pd.Timedelta(days=1)
    assert data.label_delay.days == pytest.approx(np.quantile(delays, LABEL_DELAY_QUANTILE), abs=1e-3)
    assert f"of {len(labels):,} fraud labels were reported by then" in data.label_delay.source
    given = load_dataset(tmp_path / "h.parquet", labels_path=tmp_path / "l.parquet", label_delay_days=4)
    assert (given.label_delay.days, given.label_delay.source) == (4, "given")
    too_long = load_dataset(tmp_path / "h.parquet", labels_path=tmp_path / "l.parquet", label_delay_days=90)
    with pytest.raises(BadDataError, match=f"at most {MAX_LABEL_DELAY_DAYS} days"):
        _ = too_long.label_delay


def test_label_delay_of_labels_without_reported_at(foreign_csv: Path) -> None:
    data = load_dataset(foreign_csv, mapping=parse_mapping(MAPPING))
    assert data.label_delay.days == DEFAULT_LABEL_DELAY_DAYS
    assert data.label_delay.source == "the labels carry no reported_at: the default"


def test_label_delay_without_reported_at_and_beyond_the_state(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, labels = history
    late = labels.assign(reported_at=labels["reported_at"] + pd.Timedelta(days=60))
    capped = estimate_label_delay(transactions, late)
    assert capped.days == MAX_LABEL_DELAY_DAYS and "capped" in capped.source
    assert estimate_label_delay(transactions, None).days == DEFAULT_LABEL_DELAY_DAYS
    assert estimate_label_delay(transactions, labels.iloc[:0]).source == "no fraud labels: the default"
