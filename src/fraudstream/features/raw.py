"""Raw per-event aggregates the kernel reads out of state; features are derived from them.

The kernel fills one row of ``RAW_COLUMNS`` per event, before folding the event in.
Windowed amount aggregates are laid out as ``[count, sum, sum of squares, max]``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CUSTOMER_WINDOWS", "MATURED_WINDOWS", "N_RAW", "RAW_COLUMNS", "RISK_PREFIXES", "SHOP_WINDOWS"]

CUSTOMER_WINDOWS: Final = ("1h", "24h", "7d", "30d")
SHOP_WINDOWS: Final = ("1d", "7d", "30d")
#: Windows of days ending at "now - label delay", as (name, days).
MATURED_WINDOWS: Final = (("1d", 1), ("7d", 7), ("30d", 30))
#: Entity kinds with a risk block, by raw-column prefix, in the kernel's order.
RISK_PREFIXES: Final = ("c", "m", "t", "v")


def _risk_names(prefix: str) -> list[str]:
    names: list[str] = []
    for w, _ in MATURED_WINDOWS:
        names += [f"{prefix}_matured_payments_{w}", f"{prefix}_matured_frauds_{w}"]
    return [
        *names,
        f"{prefix}_known_frauds_7d",
        f"{prefix}_reports_24h",
        f"{prefix}_reports_7d",
        f"{prefix}_days_since_fraud",  # NaN: none known in the risk horizon
    ]


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for w in CUSTOMER_WINDOWS:
        names += [f"c_count_{w}", f"c_sum_{w}", f"c_sumsq_{w}", f"c_max_{w}"]
    names += [
        "c_prev_seconds",  # since the previous transaction (NaN: none, or it is later)
        "c_prev_km",  # from the previous located transaction
        "c_prev_loc_seconds",
        "c_has_history",
        "c_loc_count_30d",
        "c_x_30d",
        "c_y_30d",
        "c_z_30d",
        "c_distinct_merchants_24h",
        "c_new_merchant",
        "c_distinct_devices_7d",
        "c_new_device",
    ]
    for shop in ("m", "t"):
        for w in SHOP_WINDOWS:
            names += [f"{shop}_count_{w}", f"{shop}_sum_{w}"]
    names += ["v_distinct_customers_24h", "v_distinct_customers_7d"]
    for prefix in RISK_PREFIXES:
        names += _risk_names(prefix)
    return tuple(names)


RAW_COLUMNS: Final = _names()
N_RAW: Final = len(RAW_COLUMNS)
_AT = {name: i for i, name in enumerate(RAW_COLUMNS)}

# Base indices the kernel writes to (module-level ints are compile-time constants for numba).
R_C_WINDOWS: Final = _AT["c_count_1h"]
R_C_PREV_SECONDS: Final = _AT["c_prev_seconds"]
R_C_PREV_KM: Final = _AT["c_prev_km"]
R_C_PREV_LOC_SECONDS: Final = _AT["c_prev_loc_seconds"]
R_C_HAS_HISTORY: Final = _AT["c_has_history"]
R_C_LOC_COUNT: Final = _AT["c_loc_count_30d"]
R_C_DISTINCT_MERCHANTS: Final = _AT["c_distinct_merchants_24h"]
R_C_NEW_MERCHANT: Final = _AT["c_new_merchant"]
R_C_DISTINCT_DEVICES: Final = _AT["c_distinct_devices_7d"]
R_C_NEW_DEVICE: Final = _AT["c_new_device"]
R_M: Final = _AT["m_count_1d"]
R_T: Final = _AT["t_count_1d"]
R_V: Final = _AT["v_distinct_customers_24h"]
R_C_RISK: Final = _AT["c_matured_payments_1d"]
R_M_RISK: Final = _AT["m_matured_payments_1d"]
R_T_RISK: Final = _AT["t_matured_payments_1d"]
R_V_RISK: Final = _AT["v_matured_payments_1d"]


def raw_index(name: str) -> int:
    return _AT[name]
