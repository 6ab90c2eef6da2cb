"""Transaction histories from the wild: column mapping, presets, timestamps, labels, bad rows.

Only a timestamp and an amount are required (and a label, to train). Everything else
(customer, merchant, terminal, device, location, ...) is used when present. A bad
value stops the load with its row and column, unless ``on_error="skip"``, which drops
the row and counts it. Nothing is silently coerced.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from fraudstream.features.definitions import DEFAULT_LABEL_DELAY_DAYS, INPUTS
from fraudstream.features.layout import MAX_LABEL_DELAY_DAYS
from fraudstream.io.files import read_frame
from fraudstream.io.values import BadDataError, OnError, Rows, TimeUnit, parse_bool, parse_number, parse_time
from fraudstream.schema import Channel

__all__ = [
    "LABEL_DELAY_QUANTILE",
    "PRESETS",
    "BadDataError",
    "Dataset",
    "LabelDelay",
    "Preset",
    "estimate_label_delay",
    "load_dataset",
    "parse_mapping",
]

log = logging.getLogger(__name__)


TRANSACTION_FIELDS: Final = (
    "transaction_id",
    "timestamp",
    "customer_id",
    "amount",
    "currency",
    "merchant_id",
    "merchant_category",
    "channel",
    "terminal_id",
    "device_id",
    "ip",
    "latitude",
    "longitude",
    "country",
)
LABEL_FIELDS: Final = ("is_fraud", "reported_at", "scenario")
CANONICAL: Final = TRANSACTION_FIELDS + LABEL_FIELDS
_ID_FIELDS: Final = ("transaction_id", "customer_id", "merchant_id", "terminal_id", "device_id")
#: The label delay is the time by which this share of the fraud labels was reported.
LABEL_DELAY_QUANTILE: Final = 0.9


@dataclass(frozen=True)
class Preset:
    """A known file shape: how its columns map, how its time reads, which extras it brings."""

    name: str
    description: str
    mapping: Mapping[str, str]
    time_unit: TimeUnit
    extras: tuple[str, ...]
    start: datetime | None = None


PRESETS: Final = {
    "ulb": Preset(
        name="ulb",
        description="ULB credit card fraud (Kaggle creditcard.csv): Time in seconds from the first "
        "transaction, V1..V28 (PCA components), Amount, Class (1 = fraud). No customer ids.",
        mapping={"timestamp": "Time", "amount": "Amount", "is_fraud": "Class"},
        time_unit="offset-s",
        extras=tuple(f"V{i}" for i in range(1, 29)),
        start=datetime(2013, 9, 1, tzinfo=UTC),
    ),
}


@dataclass(frozen=True)
class LabelDelay:
    """How long after a payment its fraud label is taken to be known, and where that comes from."""

    days: float
    source: str

    def describe(self) -> str:
        return f"label delay {self.days:.2f} days ({self.source})"


def estimate_label_delay(transactions: pd.DataFrame, labels: pd.DataFrame | None) -> LabelDelay:
    """The delay by which `LABEL_DELAY_QUANTILE` of the fraud labels were reported.

    Capped at what the feature state can look back over; the default when no fraud
    label says when it was reported.
    """
    frauds = None if labels is None else labels.loc[labels["is_fraud"].astype(bool), ["transaction_id", "reported_at"]]
    if frauds is None or frauds.empty:
        return LabelDelay(DEFAULT_LABEL_DELAY_DAYS, "no fraud labels: the default")
    paid = transactions.drop_duplicates("transaction_id").set_index("transaction_id")["timestamp"]
    joined = frauds[frauds["transaction_id"].isin(paid.index)]
    delays = (
        pd.to_datetime(joined["reported_at"], utc=True).to_numpy()
        - pd.to_datetime(paid.loc[joined["transaction_id"]], utc=True).to_numpy()
    ) / pd.Timedelta(days=1)
    delays = np.maximum(np.asarray(delays, dtype=float), 0.0)
    if not len(delays):
        return LabelDelay(DEFAULT_LABEL_DELAY_DAYS, "no fraud labels: the default")
    days = round(float(np.quantile(delays, LABEL_DELAY_QUANTILE)), 3)
    labels_word = "fraud label" if len(delays) == 1 else "fraud labels"
    source = f"{LABEL_DELAY_QUANTILE:.0%} of {len(delays):,} {labels_word} were reported by then"
    if days > MAX_LABEL_DELAY_DAYS:
        source += f"; capped from {days:.1f} days to the {MAX_LABEL_DELAY_DAYS} the feature state looks back over"
        days = float(MAX_LABEL_DELAY_DAYS)
    return LabelDelay(days, source)


@dataclass
class Dataset:
    """A history in canonical columns, its labels, and what inputs it provides."""

    transactions: pd.DataFrame
    labels: pd.DataFrame | None  # transaction_id, is_fraud, reported_at[, scenario]
    extras: tuple[str, ...] = ()
    inputs: frozenset[str] = frozenset()
    skipped_rows: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)
    #: The label delay the user gave (else it is estimated from the labels).
    label_delay_days: float | None = None
    #: False when the labels' reported_at was made up (payment time + a fixed delay).
    reported_at_given: bool = True

    @cached_property
    def label_delay(self) -> LabelDelay:
        """The delay the label-maturity features use: as given, or estimated from the labels."""
        if self.label_delay_days is not None:
            if not 0 <= self.label_delay_days <= MAX_LABEL_DELAY_DAYS:
                raise BadDataError(
                    f"--label-delay-days {self.label_delay_days:g}: the feature state looks back "
                    f"over at most {MAX_LABEL_DELAY_DAYS} days"
                )
            return LabelDelay(self.label_delay_days, "given")
        if not self.reported_at_given:
            return LabelDelay(DEFAULT_LABEL_DELAY_DAYS, "the labels carry no reported_at: the default")
        return estimate_label_delay(self.transactions, self.labels)

    @property
    def is_fraud(self) -> np.ndarray:
        """Ground truth per transaction (False where no fraud label is known)."""
        if self.labels is None:
            raise BadDataError("the data has no labels: map a label column (--map is_fraud=COLUMN) or pass --labels")
        fraud_ids = self.labels.loc[self.labels["is_fraud"], "transaction_id"]
        return np.asarray(self.transactions["transaction_id"].isin(fraud_ids).to_numpy(), dtype=bool)

    @property
    def categories(self) -> list[str]:
        if "merchant_category" not in self.transactions:
            return []
        return sorted(self.transactions["merchant_category"].dropna().astype(str).unique().tolist())


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """`canonical=COLUMN` pairs as a dict, checking the canonical names."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise BadDataError(f"--map {pair!r}: write it as canonical=COLUMN, e.g. amount=Amount")
        if name not in CANONICAL:
            raise BadDataError(f"--map {pair!r}: {name!r} is not a field; choose from {', '.join(CANONICAL)}")
        mapping[name] = column
    return mapping


def _resolve(frame: pd.DataFrame, mapping: Mapping[str, str], source: str) -> dict[str, str]:
    """Canonical field -> column of the file, for the fields the file provides."""
    missing = sorted(c for c in mapping.values() if c not in frame.columns)
    if missing:
        raise BadDataError(f"{source}: no column {', '.join(map(repr, missing))}; it has {', '.join(frame.columns)}")
    columns = dict(mapping)
    taken = set(columns.values())
    for name in CANONICAL:
        if name not in columns and name in frame.columns and name not in taken:
            columns[name] = name
    return columns


def _extras(frame: pd.DataFrame, patterns: Sequence[str], used: set[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        matched = [c for c in frame.columns if fnmatch.fnmatchcase(str(c), pattern) and c not in used]
        if not matched:
            raise BadDataError(f"--extra {pattern!r} matches no column")
        found += [c for c in matched if c not in found]
    return found


def load_dataset(
    path: Path,
    *,
    labels_path: Path | None = None,
    mapping: Mapping[str, str] | None = None,
    preset: str | None = None,
    extras: Sequence[str] = (),
    time_unit: TimeUnit = "auto",
    start: datetime | None = None,
    label_delay_days: float | None = None,
    on_error: OnError = "raise",
) -> Dataset:
    """Read a history (CSV or Parquet) into canonical columns, with its labels if any.

    `label_delay_days`: when labels carry no reported_at, they are known this long after
    the payment (default 7); it is also the label-maturity features' delay, which is
    otherwise estimated from the labels (`Dataset.label_delay`).
    """
    synthetic_delay = DEFAULT_LABEL_DELAY_DAYS if label_delay_days is None else label_delay_days
    chosen = PRESETS.get(preset) if preset else None
    if preset and chosen is None:
        raise BadDataError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if chosen is not None:
        mapping = {**chosen.mapping, **(mapping or {})}
        extras = [*chosen.extras, *extras]
        time_unit = chosen.time_unit if time_unit == "auto" else time_unit
        start = start or chosen.start

    raw = read_frame(path)
    columns = _resolve(raw, mapping or {}, str(path))
    for required in ("timestamp", "amount"):
        if required not in columns:
            raise BadDataError(f"{path}: no {required} column; map one with --map {required}=COLUMN")
    rows = Rows(len(raw), on_error)
    out = pd.DataFrame(index=raw.index)
    out["transaction_id"] = (
        raw[columns["transaction_id"]].astype("string") if "transaction_id" in columns else raw.index.astype(str)
    )
    out["timestamp"] = parse_time(raw[columns["timestamp"]], time_unit, start, columns["timestamp"], rows)
    out["amount"] = parse_number(raw[columns["amount"]], columns["amount"], rows, 0.0, 1e12)
    rows.reject(out["amount"].isna().to_numpy(), columns["amount"], raw[columns["amount"]], "is missing")
    for name in (*_ID_FIELDS[1:], "currency", "merchant_category", "ip", "country"):
        if name in columns:
            out[name] = raw[columns[name]].astype("string")
    if "channel" in columns:
        channel = raw[columns["channel"]].astype("string").str.strip().str.lower()
        valid = channel.isin([c.value for c in Channel]) | channel.isna()
        rows.reject(
            ~valid.to_numpy(),
            columns["channel"],
            raw[columns["channel"]],
            f"is not one of {', '.join(Channel)}",
        )
        out["channel"] = channel
    if ("latitude" in columns) != ("longitude" in columns):
        raise BadDataError(f"{path}: latitude and longitude come together; map both or neither")
    if "latitude" in columns:
        out["latitude"] = parse_number(raw[columns["latitude"]], columns["latitude"], rows, -90, 90)
        out["longitude"] = parse_number(raw[columns["longitude"]], columns["longitude"], rows, -180, 180)
    extra_columns = _extras(raw, extras, set(columns.values()))
    for name in extra_columns:
        out[name] = parse_number(raw[name], name, rows, -np.inf, np.inf)

    labels: pd.DataFrame | None = None
    if "is_fraud" in columns:
        is_fraud = parse_bool(raw[columns["is_fraud"]], columns["is_fraud"], rows)
        reported = (
            parse_time(raw[columns["reported_at"]], "auto", None, columns["reported_at"], rows)
            if "reported_at" in columns
            else out["timestamp"] + pd.Timedelta(days=synthetic_delay)
        )
        labels = pd.DataFrame({"transaction_id": out["transaction_id"], "is_fraud": is_fraud, "reported_at": reported})
        if "scenario" in columns:
            labels["scenario"] = raw[columns["scenario"]].astype("string")

    notes: list[str] = []
    if rows.bad.any():
        keep = ~rows.bad
        out, labels = out[keep], labels[keep] if labels is not None else None
        notes += [f"skipped {n:,} rows: {reason}" for reason, n in rows.reasons.items()]
        for note in notes:
            log.warning(note)
    out = out.reset_index(drop=True)
    reported_at_given = "reported_at" in columns
    if labels_path is not None:
        labels, reported_at_given = _load_labels(labels_path, out, synthetic_delay)
    elif labels is not None:
        labels = labels.reset_index(drop=True)
        labels = labels[labels["is_fraud"]].reset_index(drop=True)  # fraud only: the rest are legitimate

    inputs = {
        need for need, column in INPUTS.items() if all(c in out and out[c].notna().any() for c in column.split("/"))
    }
    return Dataset(
        transactions=out,
        labels=labels,
        extras=tuple(extra_columns),
        inputs=frozenset(inputs),
        skipped_rows=int(rows.bad.sum()),
        source=str(path),
        notes=notes,
        label_delay_days=label_delay_days,
        reported_at_given=reported_at_given,
    )


def _load_labels(path: Path, transactions: pd.DataFrame, delay_days: float) -> tuple[pd.DataFrame, bool]:
    """A labels file: transaction_id, optional is_fraud (default: every row is a fraud),
    reported_at; and whether it had reported_at (else: payment time + `delay_days`)."""
    raw = read_frame(path)
    if "transaction_id" not in raw:
        raise BadDataError(f"{path}: a labels file needs a transaction_id column; it has {', '.join(raw.columns)}")
    raw["transaction_id"] = raw["transaction_id"].astype("string")
    times = transactions.drop_duplicates("transaction_id").set_index("transaction_id")["timestamp"]
    known = raw["transaction_id"].isin(times.index)
    if not known.all():
        log.warning("%d labels in %s name transactions that are not in the data; ignored", int((~known).sum()), path)
        raw = raw[known.to_numpy()].reset_index(drop=True)
    rows = Rows(len(raw), "raise")
    labels = pd.DataFrame({"transaction_id": raw["transaction_id"]})
    labels["is_fraud"] = parse_bool(raw["is_fraud"], "is_fraud", rows) if "is_fraud" in raw else True
    if "reported_at" in raw:
        labels["reported_at"] = parse_time(raw["reported_at"], "auto", None, "reported_at", rows)
    else:
        labels["reported_at"] = (times.loc[labels["transaction_id"]] + pd.Timedelta(days=delay_days)).to_numpy()
    if "scenario" in raw:
        labels["scenario"] = raw["scenario"].astype("string")
    return labels, "reported_at" in raw
