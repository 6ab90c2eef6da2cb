"""The one loop that reads features out of entity state and folds events into it.

Events are processed strictly in the order given: for each transaction the raw
aggregates are read from state *before* the transaction is folded in, so they cover
exactly the events processed before it (point in time). Labels only fold: they add
known fraud to the daily bucket of the transaction they label.

Compiled with numba (``cache=True``): a Python loop over events would be two orders
of magnitude too slow, and vectorising it would break the strict event order.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from fraudstream.features.buckets import (
    amount_fold,
    amount_read,
    claim,
    haversine,
    label_fold,
    ring_sum,
    table_count,
    table_last,
    table_touch,
)
from fraudstream.features.layout import (
    AMOUNT_STATS,
    C_DEVICES,
    C_DEVICES_SLOTS,
    C_LAST_LAT,
    C_LAST_LOC_TS,
    C_LAST_LON,
    C_LAST_TS,
    C_MERCHANTS,
    C_MERCHANTS_SLOTS,
    C_R1D,
    C_R1D_SLOTS,
    C_R1D_STRIDE,
    C_R1D_WIDTH,
    C_R1H,
    C_R1H_SLOTS,
    C_R1H_WIDTH,
    C_R5M,
    C_R5M_SLOTS,
    C_R5M_WIDTH,
    C_RISK,
    D_LOC_COUNT,
    D_X,
    D_Y,
    D_Z,
    DAY,
    HOUR,
    K_DAY,
    K_DAY_SLOTS,
    K_DAY_STRIDE,
    K_FRAUDS,
    K_HOUR,
    K_HOUR_SLOTS,
    K_HOUR_STRIDE,
    K_LAST_FRAUD,
    K_PAYMENTS,
    K_REPORTS,
    S_R1D,
    S_R1D_SLOTS,
    S_R1D_STRIDE,
    S_R1H,
    S_R1H_SLOTS,
    S_R1H_STRIDE,
    S_RISK,
    V_CUSTOMERS,
    V_CUSTOMERS_SLOTS,
    V_RISK,
)
from fraudstream.features.raw import (
    MATURED_WINDOWS,
    R_C_DISTINCT_DEVICES,
    R_C_DISTINCT_MERCHANTS,
    R_C_HAS_HISTORY,
    R_C_LOC_COUNT,
    R_C_NEW_DEVICE,
    R_C_NEW_MERCHANT,
    R_C_PREV_KM,
    R_C_PREV_LOC_SECONDS,
    R_C_PREV_SECONDS,
    R_C_RISK,
    R_C_WINDOWS,
    R_M,
    R_M_RISK,
    R_T,
    R_T_RISK,
    R_V,
    R_V_RISK,
)

__all__ = ["run_kernel"]

NEW_ITEM_HORIZON = 30 * DAY
AMOUNT_STRIDE = 1 + AMOUNT_STATS
#: The latest known fraud is reported only within the daily risk ring's span.
RISK_HORIZON = K_DAY_SLOTS * DAY
MATURED_DAYS = tuple(days for _, days in MATURED_WINDOWS)

FloatMatrix = npt.NDArray[np.float64]


# -- per-entity reads and folds -----------------------------------------------------


@njit(cache=True)
def _customer_read(c, row, t, lat, lon, merchant_key, device_key, out, i):
    o = R_C_WINDOWS
    amount_read(c, row, C_R5M, C_R5M_SLOTS, AMOUNT_STRIDE, C_R5M_WIDTH, t, C_R5M_SLOTS, out, i, o)
    amount_read(c, row, C_R1H, C_R1H_SLOTS, AMOUNT_STRIDE, C_R1H_WIDTH, t, C_R1H_SLOTS, out, i, o + 4)
    amount_read(c, row, C_R1D, C_R1D_SLOTS, C_R1D_STRIDE, C_R1D_WIDTH, t, 7, out, i, o + 8)
    amount_read(c, row, C_R1D, C_R1D_SLOTS, C_R1D_STRIDE, C_R1D_WIDTH, t, C_R1D_SLOTS, out, i, o + 12)

    last = c[row, C_LAST_TS]
    out[i, R_C_HAS_HISTORY] = 0.0 if math.isnan(last) else 1.0
    if last <= t:
        out[i, R_C_PREV_SECONDS] = (t - last) / 1000.0
    loc_ts = c[row, C_LAST_LOC_TS]
    if not math.isnan(lat) and loc_ts <= t:
        out[i, R_C_PREV_KM] = haversine(c[row, C_LAST_LAT], c[row, C_LAST_LON], lat, lon)
        out[i, R_C_PREV_LOC_SECONDS] = (t - loc_ts) / 1000.0

    for q, target in ((D_LOC_COUNT, 0), (D_X, 1), (D_Y, 2), (D_Z, 3)):
        out[i, R_C_LOC_COUNT + target] = ring_sum(
            c, row, C_R1D, C_R1D_SLOTS, C_R1D_STRIDE, C_R1D_WIDTH, t, C_R1D_SLOTS, q
        )

    out[i, R_C_DISTINCT_MERCHANTS] = table_count(c, row, C_MERCHANTS, C_MERCHANTS_SLOTS, t - DAY)
    if not math.isnan(merchant_key):
        seen = table_last(c, row, C_MERCHANTS, C_MERCHANTS_SLOTS, merchant_key)
        out[i, R_C_NEW_MERCHANT] = 0.0 if seen >= t - NEW_ITEM_HORIZON else 1.0
    out[i, R_C_DISTINCT_DEVICES] = table_count(c, row, C_DEVICES, C_DEVICES_SLOTS, t - 7 * DAY)
    if not math.isnan(device_key):
        seen = table_last(c, row, C_DEVICES, C_DEVICES_SLOTS, device_key)
        out[i, R_C_NEW_DEVICE] = 0.0 if seen >= t - NEW_ITEM_HORIZON else 1.0


@njit(cache=True)
def _customer_fold(c, row, t, amount, lat, lon, merchant_key, device_key):
    amount_fold(c, row, C_R5M, C_R5M_SLOTS, AMOUNT_STRIDE, C_R5M_WIDTH, t, amount)
    amount_fold(c, row, C_R1H, C_R1H_SLOTS, AMOUNT_STRIDE, C_R1H_WIDTH, t, amount)
    s = amount_fold(c, row, C_R1D, C_R1D_SLOTS, C_R1D_STRIDE, C_R1D_WIDTH, t, amount)
    located = not math.isnan(lat)
    if s >= 0 and located:
        phi = math.radians(lat)
        lmb = math.radians(lon)
        c[row, s + D_LOC_COUNT] += 1.0
        c[row, s + D_X] += math.cos(phi) * math.cos(lmb)
        c[row, s + D_Y] += math.cos(phi) * math.sin(lmb)
        c[row, s + D_Z] += math.sin(phi)
    if not (c[row, C_LAST_TS] > t):
        c[row, C_LAST_TS] = t
    if located and not (c[row, C_LAST_LOC_TS] > t):
        c[row, C_LAST_LOC_TS] = t
        c[row, C_LAST_LAT] = lat
        c[row, C_LAST_LON] = lon
    if not math.isnan(merchant_key):
        table_touch(c, row, C_MERCHANTS, C_MERCHANTS_SLOTS, merchant_key, t)
    if not math.isnan(device_key):
        table_touch(c, row, C_DEVICES, C_DEVICES_SLOTS, device_key, t)


@njit(cache=True)
def _shop_read(s, row, t, out, i, o):
    out[i, o] = ring_sum(s, row, S_R1H, S_R1H_SLOTS, S_R1H_STRIDE, C_R1H_WIDTH, t, S_R1H_SLOTS, 1)
    out[i, o + 1] = ring_sum(s, row, S_R1H, S_R1H_SLOTS, S_R1H_STRIDE, C_R1H_WIDTH, t, S_R1H_SLOTS, 2)
    for j, k in ((0, 7), (1, S_R1D_SLOTS)):
        out[i, o + 2 + 2 * j] = ring_sum(s, row, S_R1D, S_R1D_SLOTS, S_R1D_STRIDE, DAY, t, k, 1)
        out[i, o + 3 + 2 * j] = ring_sum(s, row, S_R1D, S_R1D_SLOTS, S_R1D_STRIDE, DAY, t, k, 2)


@njit(cache=True)
def _shop_fold(s, row, t, amount):
    for base, slots, stride, width in (
        (S_R1H, S_R1H_SLOTS, S_R1H_STRIDE, C_R1H_WIDTH),
        (S_R1D, S_R1D_SLOTS, S_R1D_STRIDE, DAY),
    ):
        slot = claim(s, row, base, slots, stride, width, t)
        if slot >= 0:
            s[row, slot + 1] += 1.0
            s[row, slot + 2] += amount


# -- risk blocks: what confirmed fraud says about an entity ------------------------


@njit(cache=True)
def _risk_read(state, row, base, t, delay, out, i, o):
    """Matured windows (ending at t - delay), frauds known among the last 7 days' payments,
    fraud reports of 24 h and 7 d, days since the latest fraud. The nested windows are
    summed in one pass, newest bucket first, as separate sums over each would."""
    day = base + K_DAY
    newest = (t - delay) // DAY
    payments = 0.0
    frauds = 0.0
    w = 0
    for j in range(MATURED_DAYS[-1]):
        tag = newest - j
        s = day + (tag % K_DAY_SLOTS) * K_DAY_STRIDE
        if state[row, s] == tag:
            payments += state[row, s + K_PAYMENTS]
            frauds += state[row, s + K_FRAUDS]
        if j + 1 == MATURED_DAYS[w]:
            out[i, o + 2 * w] = payments
            out[i, o + 2 * w + 1] = frauds
            w += 1
    o += 2 * len(MATURED_DAYS)
    today = t // DAY
    known = 0.0
    reports = 0.0
    for j in range(7):
        tag = today - j
        s = day + (tag % K_DAY_SLOTS) * K_DAY_STRIDE
        if state[row, s] == tag:
            known += state[row, s + K_FRAUDS]
            reports += state[row, s + K_REPORTS]
    out[i, o] = known
    out[i, o + 1] = ring_sum(state, row, base + K_HOUR, K_HOUR_SLOTS, K_HOUR_STRIDE, HOUR, t, K_HOUR_SLOTS, 1)
    out[i, o + 2] = reports
    last = state[row, base + K_LAST_FRAUD]
    if last <= t and t - last <= RISK_HORIZON:
        out[i, o + 3] = (t - last) / DAY


@njit(cache=True)
def _risk_fold_payment(state, row, base, t):
    s = claim(state, row, base + K_DAY, K_DAY_SLOTS, K_DAY_STRIDE, DAY, t)
    if s >= 0:
        state[row, s + K_PAYMENTS] += 1.0


@njit(cache=True)
def _risk_fold_fraud(state, row, base, reported, paid):
    """A fraud reported at `reported` on a payment made at `paid`: counted among that
    day's payments (if the ring still holds it), as a report, and as the latest fraud."""
    label_fold(state, row, base + K_DAY, K_DAY_SLOTS, K_DAY_STRIDE, DAY, paid, K_FRAUDS)
    s = claim(state, row, base + K_DAY, K_DAY_SLOTS, K_DAY_STRIDE, DAY, reported)
    if s >= 0:
        state[row, s + K_REPORTS] += 1.0
    s = claim(state, row, base + K_HOUR, K_HOUR_SLOTS, K_HOUR_STRIDE, HOUR, reported)
    if s >= 0:
        state[row, s + 1] += 1.0
    if not (state[row, base + K_LAST_FRAUD] >= paid):  # none yet (NaN), or older
        state[row, base + K_LAST_FRAUD] = paid


@njit(cache=True)
def _kernel(
    ts, is_label, fold, amount, lat, lon, label_fraud, labelled_ts,
    c_row, c_state, m_row, m_state, t_row, t_state, v_row, v_state,
    merchant_key, device_key, customer_key, delay, out,
):  # fmt: skip
    for i in range(ts.shape[0]):
        t = ts[i]
        if is_label[i]:
            if fold[i] and label_fraud[i]:
                paid = labelled_ts[i]
                if c_row[i] >= 0:
                    _risk_fold_fraud(c_state, c_row[i], C_RISK, t, paid)
                if m_row[i] >= 0:
                    _risk_fold_fraud(m_state, m_row[i], S_RISK, t, paid)
                if t_row[i] >= 0:
                    _risk_fold_fraud(t_state, t_row[i], S_RISK, t, paid)
                if v_row[i] >= 0:
                    _risk_fold_fraud(v_state, v_row[i], V_RISK, t, paid)
            continue
        if c_row[i] >= 0:
            _customer_read(c_state, c_row[i], t, lat[i], lon[i], merchant_key[i], device_key[i], out, i)
            _risk_read(c_state, c_row[i], C_RISK, t, delay, out, i, R_C_RISK)
        if m_row[i] >= 0:
            _shop_read(m_state, m_row[i], t, out, i, R_M)
            _risk_read(m_state, m_row[i], S_RISK, t, delay, out, i, R_M_RISK)
        if t_row[i] >= 0:
            _shop_read(t_state, t_row[i], t, out, i, R_T)
            _risk_read(t_state, t_row[i], S_RISK, t, delay, out, i, R_T_RISK)
        if v_row[i] >= 0:
            out[i, R_V] = table_count(v_state, v_row[i], V_CUSTOMERS, V_CUSTOMERS_SLOTS, t - DAY)
            out[i, R_V + 1] = table_count(v_state, v_row[i], V_CUSTOMERS, V_CUSTOMERS_SLOTS, t - 7 * DAY)
            _risk_read(v_state, v_row[i], V_RISK, t, delay, out, i, R_V_RISK)
        if not fold[i]:
            continue
        if c_row[i] >= 0:
            _customer_fold(c_state, c_row[i], t, amount[i], lat[i], lon[i], merchant_key[i], device_key[i])
            _risk_fold_payment(c_state, c_row[i], C_RISK, t)
        if m_row[i] >= 0:
            _shop_fold(m_state, m_row[i], t, amount[i])
            _risk_fold_payment(m_state, m_row[i], S_RISK, t)
        if t_row[i] >= 0:
            _shop_fold(t_state, t_row[i], t, amount[i])
            _risk_fold_payment(t_state, t_row[i], S_RISK, t)
        if v_row[i] >= 0:
            if not math.isnan(customer_key[i]):
                table_touch(v_state, v_row[i], V_CUSTOMERS, V_CUSTOMERS_SLOTS, customer_key[i], t)
            _risk_fold_payment(v_state, v_row[i], V_RISK, t)


def run_kernel(
    ts: npt.NDArray[np.int64],
    is_label: npt.NDArray[np.bool_],
    fold: npt.NDArray[np.bool_],
    amount: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    label_fraud: npt.NDArray[np.bool_],
    labelled_ts: npt.NDArray[np.int64],
    rows: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    states: tuple[FloatMatrix, FloatMatrix, FloatMatrix, FloatMatrix],
    keys: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]],
    delay_ms: int,
    out: FloatMatrix,
) -> None:
    """Process events in order: read raw aggregates into `out` (NaN-filled), then fold.

    `rows` and `states` are (customer, merchant, terminal, device); row -1 = no entity.
    `keys` are the (merchant, device, customer) item keys for the tables (NaN = none).
    `delay_ms`: the label delay; matured windows end that long before each transaction.
    """
    _kernel(
        ts, is_label, fold, amount, lat, lon, label_fraud, labelled_ts,
        rows[0], states[0], rows[1], states[1], rows[2], states[2], rows[3], states[3],
        keys[0], keys[1], keys[2], np.int64(delay_ms), out,
    )  # fmt: skip
