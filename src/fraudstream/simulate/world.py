"""A deterministic synthetic world: customers, merchants, terminals, devices, and their days.

Everything is drawn from numpy generators seeded by ``(seed, stream, day)``, so any day
can be generated on its own and the same seed always gives the same world, whether it
is generated in one go (``World.generate``) or day by day (``World.day``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.simulate import scenarios, traffic
from fraudstream.simulate.catalog import CATEGORIES, CHANNELS, DAY_MS, Draw, rng_for
from fraudstream.simulate.columns import SCENARIOS, TxColumns
from fraudstream.simulate.population import Population, ScenarioMix, WorldConfig

__all__ = ["ScenarioMix", "World", "WorldConfig"]


class World(Population):
    """A population and its days of traffic, legitimate and fraudulent."""

    def day_columns(self, day: int) -> TxColumns:
        """All transactions of one day (legitimate and fraudulent), in timestamp order."""
        legit = traffic.legit_day(self, day)
        fraud = scenarios.fraud_day(self, day, legit)
        cols = TxColumns.concat([legit, fraud])
        return cols.take(np.argsort(cols.ts_ms, kind="stable"))

    def day(self, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Transactions and fraud labels of day `day` (0 = the configured start)."""
        cols = self.day_columns(day)
        return self._transactions_frame(day, cols), self._labels_frame(day, cols)

    def generate(self, days: int, first_day: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Transactions and labels of `days` consecutive days, concatenated."""
        parts = [self.day(d) for d in range(first_day, first_day + days)]
        return (
            pd.concat([p[0] for p in parts], ignore_index=True),
            pd.concat([p[1] for p in parts], ignore_index=True),
        )

    def _transaction_ids(self, day: int, n: int) -> list[str]:
        prefix = self.config.id_prefix
        return [f"{prefix}X{day:05d}{i:07d}" for i in range(n)]

    def _transactions_frame(self, day: int, c: TxColumns) -> pd.DataFrame:
        cities = self.cities
        return pd.DataFrame(
            {
                "transaction_id": self._transaction_ids(day, len(c)),
                "timestamp": pd.to_datetime(c.ts_ms, unit="ms", utc=True),
                "customer_id": self.customer_ids[c.customer],
                "amount": c.amount,
                "currency": cities.currency[c.currency_city],
                "merchant_id": self.merchant_ids[c.merchant],
                "merchant_category": np.array([cat.name for cat in CATEGORIES])[self.merchant_category[c.merchant]],
                "channel": np.array([ch.value for ch in CHANNELS])[c.channel],
                "terminal_id": self.terminal_ids[c.terminal],
                "device_id": self.device_ids[c.device],
                "ip": _ip_addresses(c.device),
                "latitude": np.round(c.latitude, 5),
                "longitude": np.round(c.longitude, 5),
                "country": cities.country[c.country_city],
            }
        )

    def _labels_frame(self, day: int, c: TxColumns) -> pd.DataFrame:
        rng = rng_for(self.config.seed, Draw.LABELS, day)
        idx = np.flatnonzero(c.fraud)
        # Chargebacks arrive days to weeks later: log-normal delay, at least six hours.
        delay_days = np.clip(rng.lognormal(np.log(self.config.label_delay_median_days), 0.6, len(idx)), 0.25, 120)
        reported = c.ts_ms[idx] + (delay_days * DAY_MS).astype(np.int64)
        ids = self._transaction_ids(day, len(c))
        return pd.DataFrame(
            {
                "transaction_id": [ids[i] for i in idx],
                "is_fraud": np.ones(len(idx), dtype=bool),
                "reported_at": pd.to_datetime(reported, unit="ms", utc=True),
                "scenario": np.array(SCENARIOS, dtype=object)[c.scenario[idx]],
            }
        )


def _ip_addresses(device: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """A stable public-looking IPv4 per device; None where no device was used."""
    out = np.full(len(device), None, dtype=object)
    used = np.flatnonzero(device >= 0)
    h = (device[used].astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    a = 11 + (h >> np.uint64(24)) % np.uint64(200)
    b, c, d = (
        (h >> np.uint64(16)) & np.uint64(255),
        (h >> np.uint64(8)) & np.uint64(255),
        h & np.uint64(255),
    )
    out[used] = [f"{w}.{x}.{y}.{z}" for w, x, y, z in zip(a.tolist(), b.tolist(), c.tolist(), d.tolist(), strict=True)]
    return out
