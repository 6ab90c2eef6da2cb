"""How per-entity state is laid out: one row of float64 per entity, fixed size.

A row holds a few "last event" fields, rings of time buckets and small tables of
recently seen items. Everything is a float64 so that a row is one contiguous array:
it lives in a numpy matrix in memory and as one binary value in Redis.

Rings. A ring of ``n`` slots of ``width`` ms holds bucket ``b = ts // width`` in slot
``b % n``, tagged with ``b``. A window of ``k`` buckets at time ``t`` sums the slots tagged
``b(t) - k < tag <= b(t)``: the current, partial bucket and the ``k - 1`` before it. So
"1 h" means "this 5-minute bucket and the 11 before it", "24 h" "this hour and the 23
before it", "7 d"/"30 d" "today (UTC) and the 6/29 days before". A slot is re-tagged
(and cleared) when a newer bucket lands in it; an event older than its slot's tag is
beyond the ring's horizon and is not folded. Memory per entity is therefore fixed,
whatever the length of the history.

Tables. ``k`` (item key, last seen ms) pairs holding the ``k`` most recently seen
items; distinct counts over a window count entries seen at or after ``t - window`` and
so are exact up to ``k`` (then they saturate at ``k``).

Risk block. Every kind of row ends with the same block about confirmed fraud: a daily
ring of [payments, frauds among them known so far, fraud reports that day], an hourly
ring of fraud reports, and the time of the latest payment known to be fraud. The daily
ring is long enough for a 30-day window ending ``MAX_LABEL_DELAY_DAYS`` before now:
windows over the matured past, whose labels are (mostly) in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CUSTOMER_WIDTH",
    "DEVICE_WIDTH",
    "LAYOUT_VERSION",
    "MAX_LABEL_DELAY_DAYS",
    "SHOP_WIDTH",
    "SPECS",
    "Ring",
    "RowSpec",
    "Table",
    "empty_rows",
]

MINUTE: Final = 60_000
HOUR: Final = 3_600_000
DAY: Final = 86_400_000

#: Changes whenever a row's layout does: stored rows of another layout are not read.
LAYOUT_VERSION: Final = 2

# -- risk block, the same at the end of every row -----------------------------------
# daily ring: slot = [tag, payments, frauds among them known so far, fraud reports that day]
K_DAY: Final = 0
K_DAY_SLOTS: Final = 64
K_DAY_STRIDE: Final = 4
K_PAYMENTS: Final = 1
K_FRAUDS: Final = 2
K_REPORTS: Final = 3
# hourly ring of fraud reports: slot = [tag, reports]
K_HOUR: Final = K_DAY + K_DAY_SLOTS * K_DAY_STRIDE
K_HOUR_SLOTS: Final = 24
K_HOUR_STRIDE: Final = 2
# time (ms) of the latest payment known to be fraud, NaN before the first
K_LAST_FRAUD: Final = K_HOUR + K_HOUR_SLOTS * K_HOUR_STRIDE
RISK_WIDTH: Final = K_LAST_FRAUD + 1
#: The longest label delay whose 30-day matured window the daily ring still holds.
MAX_LABEL_DELAY_DAYS: Final = K_DAY_SLOTS - 30

# -- customer row -------------------------------------------------------------------
# header
C_LAST_TS: Final = 0  # latest transaction time (ms), NaN before the first
C_LAST_LOC_TS: Final = 1  # time of the latest transaction with a location
C_LAST_LAT: Final = 2
C_LAST_LON: Final = 3
C_HEADER: Final = 4
# amount rings: slot = [tag, count, sum, sum of squares, max]
AMOUNT_STATS: Final = 4
C_R5M: Final = C_HEADER
C_R5M_SLOTS: Final = 12
C_R5M_WIDTH: Final = 5 * MINUTE
C_R1H: Final = C_R5M + C_R5M_SLOTS * (1 + AMOUNT_STATS)
C_R1H_SLOTS: Final = 24
C_R1H_WIDTH: Final = HOUR
# daily ring: amounts, then located count and unit-vector sums (usual location)
C_R1D: Final = C_R1H + C_R1H_SLOTS * (1 + AMOUNT_STATS)
C_R1D_SLOTS: Final = 30
C_R1D_WIDTH: Final = DAY
C_R1D_STRIDE: Final = 1 + AMOUNT_STATS + 4
D_LOC_COUNT: Final = 1 + AMOUNT_STATS
D_X: Final = D_LOC_COUNT + 1
D_Y: Final = D_LOC_COUNT + 2
D_Z: Final = D_LOC_COUNT + 3
# tables of recently used merchants and devices: slot = [key, last seen ms]
C_MERCHANTS: Final = C_R1D + C_R1D_SLOTS * C_R1D_STRIDE
C_MERCHANTS_SLOTS: Final = 40
C_DEVICES: Final = C_MERCHANTS + 2 * C_MERCHANTS_SLOTS
C_DEVICES_SLOTS: Final = 16
C_RISK: Final = C_DEVICES + 2 * C_DEVICES_SLOTS
CUSTOMER_WIDTH: Final = C_RISK + RISK_WIDTH

# -- merchant / terminal row ("shop") -----------------------------------------------
# hourly and daily rings: slot = [tag, count, sum]
S_R1H: Final = 0
S_R1H_SLOTS: Final = 24
S_R1H_STRIDE: Final = 3
S_R1D: Final = S_R1H + S_R1H_SLOTS * S_R1H_STRIDE
S_R1D_SLOTS: Final = 30
S_R1D_STRIDE: Final = 3
S_RISK: Final = S_R1D + S_R1D_SLOTS * S_R1D_STRIDE
SHOP_WIDTH: Final = S_RISK + RISK_WIDTH

# -- device row ---------------------------------------------------------------------
V_CUSTOMERS: Final = 0
V_CUSTOMERS_SLOTS: Final = 32
V_RISK: Final = 2 * V_CUSTOMERS_SLOTS
DEVICE_WIDTH: Final = V_RISK + RISK_WIDTH


def _template(width: int, nan_at: list[int]) -> npt.NDArray[np.float64]:
    row = np.zeros(width)
    row[nan_at] = np.nan
    return row


def _ring_tags(start: int, slots: int, stride: int) -> list[int]:
    return [start + s * stride for s in range(slots)]


def _table_cells(start: int, slots: int) -> list[int]:
    return list(range(start, start + 2 * slots))


def _risk_nans(start: int) -> list[int]:
    return [
        *_ring_tags(start + K_DAY, K_DAY_SLOTS, K_DAY_STRIDE),
        *_ring_tags(start + K_HOUR, K_HOUR_SLOTS, K_HOUR_STRIDE),
        start + K_LAST_FRAUD,
    ]


# Empty rows: NaN in "last" fields, ring tags and table cells (NaN never equals a tag,
# so an empty slot reads as stale), zeros in the stats.
_EMPTY = {
    "customer": _template(
        CUSTOMER_WIDTH,
        [
            C_LAST_TS,
            C_LAST_LOC_TS,
            C_LAST_LAT,
            C_LAST_LON,
            *_ring_tags(C_R5M, C_R5M_SLOTS, 1 + AMOUNT_STATS),
            *_ring_tags(C_R1H, C_R1H_SLOTS, 1 + AMOUNT_STATS),
            *_ring_tags(C_R1D, C_R1D_SLOTS, C_R1D_STRIDE),
            *_table_cells(C_MERCHANTS, C_MERCHANTS_SLOTS),
            *_table_cells(C_DEVICES, C_DEVICES_SLOTS),
            *_risk_nans(C_RISK),
        ],
    ),
    "shop": _template(
        SHOP_WIDTH,
        _ring_tags(S_R1H, S_R1H_SLOTS, S_R1H_STRIDE)
        + _ring_tags(S_R1D, S_R1D_SLOTS, S_R1D_STRIDE)
        + _risk_nans(S_RISK),
    ),
    "device": _template(DEVICE_WIDTH, _table_cells(V_CUSTOMERS, V_CUSTOMERS_SLOTS) + _risk_nans(V_RISK)),
}


def empty_rows(kind: str, n: int) -> npt.NDArray[np.float64]:
    """`n` fresh rows for entities of `kind` (customer, shop or device)."""
    template = _EMPTY[kind]
    rows = np.empty((n, len(template)))
    rows[:] = template  # cheaper than np.tile for a batch's few rows
    return rows


# -- the same layouts, described for backends that merge rows (Redis) --------------


@dataclass(frozen=True)
class Ring:
    offset: int
    slots: int
    stride: int  # cells per slot: the tag, then the stats
    max_cell: int  # cell of the slot merged by max (-1: none); the others add up


@dataclass(frozen=True)
class Table:
    offset: int
    slots: int  # (key, last seen) pairs


@dataclass(frozen=True)
class RowSpec:
    width: int
    last: bool  # the customer's "latest transaction" header (cells 0..3)
    rings: tuple[Ring, ...]
    tables: tuple[Table, ...]


AMOUNT_MAX_CELL: Final = 4  # [tag, count, sum, sum of squares, max]


def _risk_rings(start: int) -> tuple[Ring, ...]:
    # The latest fraud's time merges as a one-slot ring of its tag alone: the newest wins.
    return (
        Ring(start + K_DAY, K_DAY_SLOTS, K_DAY_STRIDE, -1),
        Ring(start + K_HOUR, K_HOUR_SLOTS, K_HOUR_STRIDE, -1),
        Ring(start + K_LAST_FRAUD, 1, 1, -1),
    )


SPECS: Final = {
    "customer": RowSpec(
        CUSTOMER_WIDTH,
        True,
        (
            Ring(C_R5M, C_R5M_SLOTS, 1 + AMOUNT_STATS, AMOUNT_MAX_CELL),
            Ring(C_R1H, C_R1H_SLOTS, 1 + AMOUNT_STATS, AMOUNT_MAX_CELL),
            Ring(C_R1D, C_R1D_SLOTS, C_R1D_STRIDE, AMOUNT_MAX_CELL),
            *_risk_rings(C_RISK),
        ),
        (Table(C_MERCHANTS, C_MERCHANTS_SLOTS), Table(C_DEVICES, C_DEVICES_SLOTS)),
    ),
    "shop": RowSpec(
        SHOP_WIDTH,
        False,
        (
            Ring(S_R1H, S_R1H_SLOTS, S_R1H_STRIDE, -1),
            Ring(S_R1D, S_R1D_SLOTS, S_R1D_STRIDE, -1),
            *_risk_rings(S_RISK),
        ),
        (),
    ),
    "device": RowSpec(DEVICE_WIDTH, False, _risk_rings(V_RISK), (Table(V_CUSTOMERS, V_CUSTOMERS_SLOTS),)),
}
