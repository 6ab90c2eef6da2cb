"""A brute-force reference for the feature engine: plain pandas over the full history.

For every transaction it looks at all events processed before it and recomputes each
feature from scratch, from the written rules (see `fraudstream.features.layout`):

- windows are bucket-aligned: an earlier event counts in a k-bucket window at t if its
  bucket is one of the k ending at t's bucket, and if no later-bucket event of the same
  entity has since taken its ring slot (a ring of n slots keeps the n newest buckets);
- a fraud label counts from its `reported_at` on: in the daily risk ring, among the
  frauds of the day of the transaction it labels (if that day held its ring slot when
  the label came, and still does) and among the reports of the day (and hour) it was
  reported; transactions and reports claim ring slots alike;
- matured windows are the k days ending at the day of `t - delay`;
- "previous" is the latest transaction; it must not be later than t;
- distinct counts count items last seen at or after t - window (all tests stay below the
  table capacity, whose eviction rule has its own tests);
- an event id is folded once: later copies change nothing.

Quadratic, so for a few thousand events at most.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fraudstream.features.raw import CUSTOMER_WINDOWS, SHOP_WINDOWS
from fraudstream.geo import haversine_km

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
RISK_DAYS, RISK_HOURS = 64, 24
# (bucket width, ring slots, buckets in the window)
CUSTOMER_RINGS = {"1h": (5 * MINUTE, 12, 12), "24h": (HOUR, 24, 24), "7d": (DAY, 30, 7), "30d": (DAY, 30, 30)}
SHOP_RINGS = {"1d": (HOUR, 24, 24), "7d": (DAY, 30, 7), "30d": (DAY, 30, 30)}
EVENT_COLUMNS = [
    "kind",  # "tx" or "label"
    "transaction_id",
    "ts",  # ms: transaction time, or when the label was reported
    "labelled_ts",  # labels: time of the labelled transaction
    "is_fraud",
    "amount",
    "latitude",
    "longitude",
    "customer_id",
    "merchant_id",
    "terminal_id",
    "device_id",
]


def history_to_events(transactions: pd.DataFrame, labels: pd.DataFrame | None) -> pd.DataFrame:
    """A history as reference events in processing order (labels at `reported_at`, after ties)."""
    tx = pd.DataFrame(
        {
            "kind": "tx",
            "transaction_id": transactions["transaction_id"],
            "ts": _ms(transactions["timestamp"]),
            "is_fraud": False,
            **{c: transactions[c] for c in EVENT_COLUMNS[5:] if c in transactions},
        }
    )
    tx["labelled_ts"] = tx["ts"]
    parts = [tx]
    if labels is not None and len(labels):
        joined = labels.merge(tx.drop(columns=["kind", "is_fraud", "labelled_ts"]), on="transaction_id")
        parts.append(
            joined.assign(kind="label", labelled_ts=joined["ts"], ts=_ms(joined["reported_at"])).drop(
                columns=["reported_at"]
            )
        )
    events = pd.concat(parts, ignore_index=True)
    events["_tie"] = (events["kind"] == "label").astype(int)
    return events.sort_values(["ts", "_tie"], kind="stable").drop(columns="_tie").reset_index(drop=True)


def _ms(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


class Rows:
    """Some events as numpy columns (pandas per transaction would take minutes)."""

    def __init__(self, columns: dict[str, np.ndarray], index: np.ndarray) -> None:
        self.columns = columns
        self.index = index
        self.ts = columns["ts"][index]
        self.seq = index

    def column(self, name: str) -> np.ndarray:
        return self.columns[name][self.index]

    def where(self, mask: np.ndarray) -> Rows:
        return Rows(self.columns, self.index[mask])

    def __len__(self) -> int:
        return len(self.index)


def _present(ts: np.ndarray, width: int, slots: int) -> np.ndarray:
    """Which transactions still hold their ring slot: the newest bucket of their slot."""
    bucket = ts // width
    newest = np.full(slots, np.iinfo(np.int64).min)
    np.maximum.at(newest, bucket % slots, bucket)
    return bucket == newest[bucket % slots]


def _window(rows: Rows, t: int, rule: tuple[int, int, int]) -> np.ndarray:
    """Mask of the rows (transactions of one entity) in the k-bucket window ending at t's bucket."""
    width, slots, k = rule
    bucket = rows.ts // width
    return _present(rows.ts, width, slots) & (bucket > t // width - k) & (bucket <= t // width)


def _newest_in_slot(buckets: np.ndarray, slots: int) -> dict[int, int]:
    newest: dict[int, int] = {}
    for b in buckets.tolist():
        newest[b % slots] = max(newest.get(b % slots, b), b)
    return newest


def _risk(tx: Rows, frauds: Rows, t: int, delay: int) -> dict[str, float]:
    """An entity's risk aggregates at t, from its earlier transactions and fraud labels."""
    paid_day = tx.ts // DAY
    report_day = frauds.ts // DAY
    labelled_day = frauds.column("labelled_ts").astype(np.int64) // DAY
    claims_seq = np.concatenate([tx.seq, frauds.seq])
    claims_day = np.concatenate([paid_day, report_day])
    newest = _newest_in_slot(claims_day, RISK_DAYS)

    def held(b: int) -> bool:
        return newest.get(b % RISK_DAYS) == b

    def payments(b: int) -> int:
        return int((paid_day == b).sum()) if held(b) else 0

    def reports(b: int) -> int:
        return int((report_day == b).sum()) if held(b) else 0

    # A fraud counts in its payment's day if that day held its slot when the label came.
    counted = np.zeros(len(frauds), dtype=bool)
    for n, (seq, day) in enumerate(zip(frauds.seq.tolist(), labelled_day.tolist(), strict=True)):
        before = claims_day[claims_seq < seq]
        in_slot = before[before % RISK_DAYS == day % RISK_DAYS]
        counted[n] = bool(len(in_slot)) and in_slot.max() == day

    def fraud_count(b: int) -> int:
        return int((counted & (labelled_day == b)).sum()) if held(b) else 0

    out: dict[str, float] = {}
    matured = (t - delay) // DAY
    for w, k in (("1d", 1), ("7d", 7), ("30d", 30)):
        days = range(matured - k + 1, matured + 1)
        out[f"payments_{w}"] = float(sum(payments(b) for b in days))
        out[f"frauds_{w}"] = float(sum(fraud_count(b) for b in days))
    today = t // DAY
    out["known_7d"] = float(sum(fraud_count(b) for b in range(today - 6, today + 1)))
    out["reports_7d"] = float(sum(reports(b) for b in range(today - 6, today + 1)))
    report_hour = frauds.ts // HOUR
    newest_hour = _newest_in_slot(report_hour, RISK_HOURS)
    hour = t // HOUR
    out["reports_24h"] = float(
        sum(int((report_hour == b).sum()) for b in range(hour - 23, hour + 1) if newest_hour.get(b % RISK_HOURS) == b)
    )
    last = frauds.column("labelled_ts").max() if len(frauds) else math.nan
    out["days_since"] = (t - last) / DAY if last <= t and t - last <= RISK_DAYS * DAY else math.nan
    return out


def _amount_stats(amounts: np.ndarray) -> tuple[float, float, float, float, float]:
    """count, sum, mean, sample std, max."""
    n = len(amounts)
    if n == 0:
        return 0.0, 0.0, math.nan, math.nan, math.nan
    mean = float(amounts.mean())
    std = math.nan
    if n >= 2:
        var = float(((amounts - mean) ** 2).sum() / (n - 1))
        std = 0.0 if var <= 1e-13 * mean * mean else math.sqrt(var)
    return float(n), float(amounts.sum()), mean, std, float(amounts.max())


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def reference_features(events: pd.DataFrame, delay_days: float = 7.0) -> pd.DataFrame:
    """Features of every transaction event, in order, from the events processed before it.

    `delay_days`: the label delay at which matured windows end.
    """
    events = events.reset_index(drop=True).copy()
    for c in ("customer_id", "merchant_id", "terminal_id", "device_id"):
        if c not in events:
            events[c] = None
    for c in ("latitude", "longitude"):
        if c not in events:
            events[c] = np.nan
    # An id is folded once: the first transaction with it, the first fraud label for it.
    key = events["kind"] + events["is_fraud"].astype(str) + events["transaction_id"].astype(str)
    folded = ~key.duplicated().to_numpy()
    columns = {c: events[c].to_numpy() for c in events.columns}
    columns["ts"] = columns["ts"].astype(np.int64)
    columns["labelled_ts"] = columns["labelled_ts"].astype(np.int64)
    columns["amount"] = columns["amount"].astype(float)
    for c in ("customer_id", "merchant_id", "terminal_id", "device_id"):
        columns[c] = np.where(pd.isna(columns[c]), None, columns[c]).astype(object)
    is_tx = columns["kind"] == "tx"
    is_fraud_label = (columns["kind"] == "label") & columns["is_fraud"].astype(bool)
    rows: list[dict[str, Any]] = []
    for i in np.flatnonzero(is_tx):
        before = np.arange(len(events)) < i
        tx = Rows(columns, np.flatnonzero(before & folded & is_tx))
        frauds = Rows(columns, np.flatnonzero(before & folded & is_fraud_label))
        rows.append(_features_of({c: v[i] for c, v in columns.items()}, tx, frauds, round(delay_days * DAY)))
    return pd.DataFrame(rows)


def _last_seen(rows: Rows, item: str) -> dict[object, int]:
    seen: dict[object, int] = {}
    for value, ts in zip(rows.column(item), rows.ts, strict=True):
        if value is not None:
            seen[value] = max(seen.get(value, ts), ts)
    return seen


def _features_of(me: dict[str, Any], tx: Rows, frauds: Rows, delay: int) -> dict[str, Any]:
    t = int(me["ts"])
    f: dict[str, Any] = {"amount": me["amount"]}
    located = not math.isnan(me["latitude"])

    if me["customer_id"] is not None:
        mine = tx.where(tx.column("customer_id") == me["customer_id"])
        amounts = mine.column("amount")
        for w in CUSTOMER_WINDOWS:
            n, total, mean, std, biggest = _amount_stats(amounts[_window(mine, t, CUSTOMER_RINGS[w])])
            f[f"customer_count_{w}"], f[f"customer_sum_{w}"] = n, total
            f[f"customer_mean_{w}"], f[f"customer_std_{w}"], f[f"customer_max_{w}"] = mean, std, biggest
        last = mine.ts.max() if len(mine) else math.nan
        f["customer_seconds_since_previous"] = (t - last) / 1000 if last <= t else math.nan
        f["customer_first_transaction"] = float(len(mine) == 0)
        mean30, std30 = f["customer_mean_30d"], f["customer_std_30d"]
        f["amount_to_customer_mean_30d"] = _div(me["amount"], mean30)
        f["amount_zscore_customer_30d"] = _div(me["amount"] - mean30, std30)
        merchants = _last_seen(mine, "merchant_id")
        f["customer_distinct_merchants_24h"] = float(sum(v >= t - DAY for v in merchants.values()))
        if me["merchant_id"] is not None:
            f["customer_new_merchant"] = float(not merchants.get(me["merchant_id"], -math.inf) >= t - 30 * DAY)
        devices = _last_seen(mine, "device_id")
        f["customer_distinct_devices_7d"] = float(sum(v >= t - 7 * DAY for v in devices.values()))
        f["customer_new_device"] = (
            float(not devices.get(me["device_id"], -math.inf) >= t - 30 * DAY)
            if me["device_id"] is not None
            else math.nan
        )
        lat, lon = mine.column("latitude").astype(float), mine.column("longitude").astype(float)
        with_location = np.flatnonzero(~np.isnan(lat))
        f["customer_distance_previous_km"] = f["customer_speed_previous_kmh"] = math.nan
        if located and len(with_location):
            # The latest located transaction; among equal times, the last processed.
            prev = with_location[mine.ts[with_location] == mine.ts[with_location].max()][-1]
            if mine.ts[prev] <= t:
                km = float(haversine_km(lat[prev], lon[prev], me["latitude"], me["longitude"]))
                f["customer_distance_previous_km"] = km
                f["customer_speed_previous_kmh"] = km / (max((t - mine.ts[prev]) / 1000, 60.0) / 3600)
        recent = _window(mine, t, CUSTOMER_RINGS["30d"]) & ~np.isnan(lat)
        f["customer_distance_usual_km"] = math.nan
        if located and recent.any():
            phi, lmb = np.radians(lat[recent]), np.radians(lon[recent])
            x, y, z = (np.cos(phi) * np.cos(lmb)).sum(), (np.cos(phi) * np.sin(lmb)).sum(), np.sin(phi).sum()
            c_lat = math.degrees(math.asin(z / math.sqrt(x * x + y * y + z * z)))
            c_lon = math.degrees(math.atan2(y, x))
            f["customer_distance_usual_km"] = float(haversine_km(c_lat, c_lon, me["latitude"], me["longitude"]))

    for entity in ("merchant", "terminal"):
        column = f"{entity}_id"
        if me[column] is None:
            continue
        mine = tx.where(tx.column(column) == me[column])
        for w in SHOP_WINDOWS:
            n, _, mean, _, _ = _amount_stats(mine.column("amount")[_window(mine, t, SHOP_RINGS[w])])
            f[f"{entity}_count_{w}"], f[f"{entity}_mean_amount_{w}"] = n, mean
        f[f"amount_to_{entity}_mean_30d"] = _div(me["amount"], f[f"{entity}_mean_amount_30d"])
        f[f"{entity}_mean_amount_1d_to_30d"] = _div(f[f"{entity}_mean_amount_1d"], f[f"{entity}_mean_amount_30d"])

    if me["device_id"] is not None:
        users = _last_seen(tx.where(tx.column("device_id") == me["device_id"]), "customer_id")
        f["device_distinct_customers_24h"] = float(sum(v >= t - DAY for v in users.values()))
        f["device_distinct_customers_7d"] = float(sum(v >= t - 7 * DAY for v in users.values()))

    for entity in ("customer", "merchant", "terminal", "device"):
        column = f"{entity}_id"
        if me[column] is None:
            continue
        risk = _risk(
            tx.where(tx.column(column) == me[column]), frauds.where(frauds.column(column) == me[column]), t, delay
        )
        for w in ("1d", "7d", "30d"):
            f[f"{entity}_matured_payments_{w}"] = risk[f"payments_{w}"]
            f[f"{entity}_matured_fraud_rate_{w}"] = _div(risk[f"frauds_{w}"], risk[f"payments_{w}"])
        f[f"{entity}_known_frauds_7d"] = risk["known_7d"]
        f[f"{entity}_frauds_reported_24h"] = risk["reports_24h"]
        f[f"{entity}_frauds_reported_7d"] = risk["reports_7d"]
        f[f"{entity}_days_since_known_fraud"] = risk["days_since"]

    local = t / HOUR + (me["longitude"] / 15 if located else 0.0)
    f["hour_of_day"] = local % 24
    f["is_night"] = float(local % 24 < 6)
    f["is_weekend"] = float((math.floor(local / 24) + 3) % 7 >= 5)
    return f
