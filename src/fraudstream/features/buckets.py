"""Numba primitives the feature kernel is built from: bucket rings and tables of
recently seen items, stored as columns of an entity's state row.

A ring holds `slots` time buckets of `width` ms, `stride` columns each; column 0 is the
bucket's number, so a slot holding an older bucket is recognised and reused.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

EARTH_RADIUS_KM = 6371.0088


@njit(cache=True)
def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2.0) ** 2
    a = min(1.0, max(0.0, a))
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


# -- rings --------------------------------------------------------------------------


@njit(cache=True)
def claim(state, row, base, slots, stride, width, t):
    """Slot of bucket t // width, cleared if it held an older bucket; -1 if it holds a newer one."""
    b = t // width
    s = base + (b % slots) * stride
    tag = state[row, s]
    if tag != b:
        if not math.isnan(tag) and tag > b:
            return -1
        state[row, s] = b
        for q in range(1, stride):
            state[row, s + q] = 0.0
    return s


@njit(cache=True)
def amount_fold(state, row, base, slots, stride, width, t, amount):
    s = claim(state, row, base, slots, stride, width, t)
    if s < 0:
        return s
    count = state[row, s + 1]
    state[row, s + 1] = count + 1.0
    state[row, s + 2] += amount
    state[row, s + 3] += amount * amount
    if count == 0.0 or amount > state[row, s + 4]:
        state[row, s + 4] = amount
    return s


@njit(cache=True)
def amount_read(state, row, base, slots, stride, width, t, k, out, i, o):
    b = t // width
    count = 0.0
    total = 0.0
    squares = 0.0
    biggest = -np.inf
    for j in range(k):
        tag = b - j
        s = base + (tag % slots) * stride
        if state[row, s] == tag and state[row, s + 1] > 0.0:
            count += state[row, s + 1]
            total += state[row, s + 2]
            squares += state[row, s + 3]
            biggest = max(biggest, state[row, s + 4])
    out[i, o] = count
    out[i, o + 1] = total
    out[i, o + 2] = squares
    if count > 0.0:
        out[i, o + 3] = biggest


@njit(cache=True)
def ring_sum(state, row, base, slots, stride, width, t, k, q):
    """Sum of stat q over the k buckets ending at t's bucket."""
    b = t // width
    total = 0.0
    for j in range(k):
        tag = b - j
        s = base + (tag % slots) * stride
        if state[row, s] == tag:
            total += state[row, s + q]
    return total


@njit(cache=True)
def label_fold(state, row, base, slots, stride, width, tx_ts, q):
    """Count a confirmed fraud in the bucket of the transaction it labels, if still held."""
    b = tx_ts // width
    s = base + (b % slots) * stride
    if state[row, s] == b:
        state[row, s + q] += 1.0


# -- tables of recently seen items --------------------------------------------------


@njit(cache=True)
def table_count(state, row, base, slots, since):
    n = 0
    for j in range(slots):
        if state[row, base + 2 * j + 1] >= since:
            n += 1
    return float(n)


@njit(cache=True)
def table_last(state, row, base, slots, key):
    for j in range(slots):
        if state[row, base + 2 * j] == key:
            return state[row, base + 2 * j + 1]
    return np.nan


@njit(cache=True)
def table_touch(state, row, base, slots, key, t):
    """Record `key` seen at t, keeping the `slots` most recently seen keys."""
    empty = -1
    oldest = -1
    oldest_last = np.inf
    for j in range(slots):
        cell = base + 2 * j
        k = state[row, cell]
        if k == key:
            if t > state[row, cell + 1]:
                state[row, cell + 1] = t
            return
        if math.isnan(k):  # free cell
            if empty < 0:
                empty = j
        elif state[row, cell + 1] < oldest_last:
            oldest_last = state[row, cell + 1]
            oldest = j
    if empty < 0:
        if t < oldest_last:
            return  # older than every item kept: not among the most recent
        empty = oldest
    state[row, base + 2 * empty] = key
    state[row, base + 2 * empty + 1] = t
