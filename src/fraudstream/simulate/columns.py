"""Columnar batches of simulated transactions, kept as integer codes until the very end."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = ["NO_SCENARIO", "SCENARIOS", "TxColumns"]

#: Scenario codes; the position is the code stored in `TxColumns.scenario`.
SCENARIOS: tuple[str, ...] = (
    "account_takeover",
    "card_testing",
    "compromised_terminal",
    "geo_anomaly",
    "amount_outlier",
)
NO_SCENARIO = -1

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class TxColumns:
    """One row per transaction; entity columns hold indices into the world's tables (-1 = none)."""

    ts_ms: IntArray
    customer: IntArray
    merchant: IntArray
    terminal: IntArray
    device: IntArray
    amount: FloatArray
    channel: IntArray
    latitude: FloatArray
    longitude: FloatArray
    currency_city: IntArray  # the city whose currency the payment is in
    country_city: IntArray  # the city whose country the payment happened in
    fraud: BoolArray
    scenario: IntArray

    def __len__(self) -> int:
        return len(self.ts_ms)

    def take(self, index: npt.NDArray[np.intp]) -> TxColumns:
        return TxColumns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[TxColumns]) -> TxColumns:
        return TxColumns(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(TxColumns)})
