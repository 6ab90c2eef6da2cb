"""Who and where in a synthetic world: customers, merchants, terminals and devices, drawn once.

The same config always gives the same population (numpy generators seeded by the config's
seed); `world.py` generates its days of traffic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fraudstream.geo import haversine_km
from fraudstream.simulate.catalog import CATEGORIES, DAY_MS, Draw, rng_for
from fraudstream.simulate.cities import Cities, load_cities
from fraudstream.simulate.columns import SCENARIOS

__all__ = ["Population", "ScenarioMix", "WorldConfig"]


class ScenarioMix(BaseModel):
    """Share of fraudulent transactions per scenario (normalised to sum to 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_takeover: float = Field(0.25, ge=0)
    card_testing: float = Field(0.20, ge=0)
    compromised_terminal: float = Field(0.25, ge=0)
    geo_anomaly: float = Field(0.15, ge=0)
    amount_outlier: float = Field(0.15, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ScenarioMix:
        if sum(self.shares()) <= 0:
            raise ValueError("at least one scenario needs a positive share")
        return self

    def shares(self) -> list[float]:
        raw = [float(getattr(self, name)) for name in SCENARIOS]
        total = sum(raw)
        return [r / total for r in raw] if total > 0 else raw


class WorldConfig(BaseModel):
    """Everything that defines a world; the same config always gives the same world."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: int = Field(5_000, ge=1, le=20_000_000)
    merchants: int = Field(500, ge=1, le=5_000_000)
    seed: int = Field(0, ge=0)
    start: AwareDatetime = datetime(2026, 1, 1, tzinfo=UTC)
    fraud_rate: float = Field(0.007, gt=0.0, lt=0.5, description="Share of fraudulent transactions.")
    mix: ScenarioMix = ScenarioMix()
    label_delay_median_days: float = Field(5.0, gt=0.0, le=60.0)
    transactions_per_day: float = Field(1.2, gt=0.0, le=100.0, description="Per customer, on average.")
    id_prefix: str = Field(
        "",
        max_length=16,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Before every transaction id: two runs of one world that must not share ids.",
    )


def _ids(prefix: str, n: int, width: int) -> npt.NDArray[np.object_]:
    """Id strings with a trailing None, so that index -1 reads as "no entity"."""
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)] + [None], dtype=object)


class Population:
    """The static part of a world: who and where."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.cities: Cities = load_cities()
        self.start_ms = int(self.config.start.timestamp() * 1000)
        self._build(rng_for(self.config.seed, Draw.ENTITIES))

    # -- entities -----------------------------------------------------------------

    def _build(self, rng: np.random.Generator) -> None:
        cfg, cities = self.config, self.cities
        n_m, n_c = cfg.merchants, cfg.customers
        city_weight = cities.population**0.7
        city_weight /= city_weight.sum()

        # Merchants and their terminals.
        cat_weight = np.array([c.weight for c in CATEGORIES])
        self.merchant_category = rng.choice(len(CATEGORIES), size=n_m, p=cat_weight / cat_weight.sum())
        online_share = np.array([c.online_share for c in CATEGORIES])[self.merchant_category]
        self.merchant_online = rng.random(n_m) < online_share
        self.merchant_online[0] = False  # every world has a shop to walk into
        self.merchant_city = rng.choice(len(cities), size=n_m, p=city_weight)
        self.merchant_lat = np.clip(cities.latitude[self.merchant_city] + rng.normal(0, 0.04, n_m), -90, 90)
        self.merchant_lon = np.clip(cities.longitude[self.merchant_city] + rng.normal(0, 0.04, n_m), -180, 180)
        n_term = np.where(self.merchant_online, 0, 1 + np.minimum(rng.poisson(1.0, n_m), 5))
        self.terminal_start = np.concatenate([[0], np.cumsum(n_term)[:-1]])
        self.terminal_count = n_term
        self.terminal_merchant = np.repeat(np.arange(n_m), n_term)

        physical = np.flatnonzero(~self.merchant_online)
        online = np.flatnonzero(self.merchant_online)
        self.online_pool = online if len(online) else physical
        risky = np.array([c.high_risk for c in CATEGORIES])[self.merchant_category[self.online_pool]]
        self.risky_online_pool = self.online_pool[risky] if risky.any() else self.online_pool
        # Physical merchants grouped by city, for "a shop in the city where the customer is".
        order = physical[np.argsort(self.merchant_city[physical], kind="stable")]
        self.city_pool = order
        self.city_pool_start = np.searchsorted(self.merchant_city[order], np.arange(len(cities)))
        self.city_pool_count = np.bincount(self.merchant_city[order], minlength=len(cities))
        self.shop_cities = np.flatnonzero(self.city_pool_count)

        # Customers live where the shops are.
        shop_weight = city_weight[self.shop_cities] / city_weight[self.shop_cities].sum()
        self.home_city = self.shop_cities[rng.choice(len(self.shop_cities), size=n_c, p=shop_weight)]
        self.home_lat = np.clip(cities.latitude[self.home_city] + rng.normal(0, 0.05, n_c), -90, 90)
        self.home_lon = np.clip(cities.longitude[self.home_city] + rng.normal(0, 0.05, n_c), -180, 180)
        self.rate = np.clip(rng.lognormal(np.log(cfg.transactions_per_day) - 0.18, 0.6, n_c), 0.02, 60)
        self.amount_mu = rng.normal(3.2, 0.45, n_c)
        self.amount_sigma = rng.uniform(0.45, 0.9, n_c)
        self.peak_hour = np.clip(rng.normal(15.0, 2.5, n_c), 8, 22)
        self.hour_spread = rng.uniform(2.0, 4.5, n_c)
        self.online_share = rng.beta(2.0, 4.0, n_c)
        n_dev = 1 + rng.binomial(2, 0.35, n_c)
        self.device_start = np.concatenate([[0], np.cumsum(n_dev)[:-1]])
        self.device_count = n_dev
        self.n_customer_devices = int(n_dev.sum())
        # Fraudsters reuse a small pool of devices across victims.
        self.n_fraud_devices = max(8, n_c // 400)
        self.favourite_shops = self.shop_in(self.home_city[:, None].repeat(8, 1), rng)
        self.favourite_sites = self.online_pool[rng.integers(0, len(self.online_pool), (n_c, 4))]

        # Calibrate how often terminals get compromised to hit their share of fraud.
        daily = float(self.rate.sum()) * (1 - float(self.online_share.mean()))
        per_terminal_day = daily / max(1, len(self.terminal_merchant))
        self.compromise_days_mean, self.compromise_hit_mean = 8.5, 0.55
        per_compromise = per_terminal_day * self.compromise_days_mean * self.compromise_hit_mean
        share = cfg.mix.shares()[SCENARIOS.index("compromised_terminal")]
        wanted_daily = cfg.fraud_rate / (1 - cfg.fraud_rate) * float(self.rate.sum()) * share
        self.compromises_per_day = wanted_daily / max(per_compromise, 1e-9)

    def shop_in(self, city: npt.NDArray[np.int64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """A random physical merchant in each given city (cities must have shops)."""
        pick = (rng.random(city.shape) * self.city_pool_count[city]).astype(np.int64)
        return np.asarray(self.city_pool[self.city_pool_start[city] + pick], dtype=np.int64)

    def terminal_of(self, merchant: npt.NDArray[np.int64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """A random terminal of each merchant, -1 for merchants that only sell online."""
        count = self.terminal_count[merchant]
        pick = (rng.random(len(merchant)) * count).astype(np.int64)
        return np.where(count > 0, self.terminal_start[merchant] + pick, -1)

    def device_of(self, customer: npt.NDArray[np.int64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
        pick = (rng.random(len(customer)) * self.device_count[customer]).astype(np.int64)
        return self.device_start[customer] + pick

    def typical_amount(self, customer: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """A customer's median amount at an average merchant."""
        return np.asarray(np.exp(self.amount_mu[customer]), dtype=np.float64)

    def far_city(
        self,
        lat: npt.NDArray[np.float64],
        lon: npt.NDArray[np.float64],
        min_km: float,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.int64]:
        """For each point, a shop city at least `min_km` away (the farthest of 8 tries if none is)."""
        tries = self.shop_cities[rng.integers(0, len(self.shop_cities), (len(lat), 8))]
        dist = haversine_km(lat[:, None], lon[:, None], self.cities.latitude[tries], self.cities.longitude[tries])
        far_enough = dist >= min_km
        choice = np.where(far_enough.any(axis=1), far_enough.argmax(axis=1), dist.argmax(axis=1))
        return np.asarray(tries[np.arange(len(lat)), choice], dtype=np.int64)

    # -- id tables ----------------------------------------------------------------

    @cached_property
    def customer_ids(self) -> npt.NDArray[np.object_]:
        return _ids("C", self.config.customers, 7)

    @cached_property
    def merchant_ids(self) -> npt.NDArray[np.object_]:
        return _ids("M", self.config.merchants, 6)

    @cached_property
    def terminal_ids(self) -> npt.NDArray[np.object_]:
        return _ids("T", len(self.terminal_merchant), 7)

    @cached_property
    def device_ids(self) -> npt.NDArray[np.object_]:
        return _ids("D", self.n_customer_devices + self.n_fraud_devices, 8)

    def day_start_ms(self, day: int) -> int:
        return self.start_ms + day * DAY_MS
