"""Fraud scenarios, each with the signature a fraud analyst would recognise.

- account takeover: a fraudster's device in another country, a burst of high amounts;
- card testing: many tiny amounts at distinct web shops within minutes, then large ones;
- compromised terminal: for days, a terminal's payments turn fraudulent (and inflated);
- geo anomaly: a card-present payment thousands of km from one made minutes before;
- amount outlier: one payment many times the customer's usual amount.

Each scenario gets its share of the day's fraud budget (``fraud_rate`` x legit volume).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudstream.simulate.catalog import (
    CARD_PRESENT,
    CATEGORIES,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    MOBILE,
    ONLINE,
    Draw,
    rng_for,
)
from fraudstream.simulate.columns import SCENARIOS, TxColumns
from fraudstream.simulate.population import Population

__all__ = ["active_compromises", "fraud_day"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MAX_COMPROMISE_DAYS = 14
ATO_MEAN_BURST = 6.5
CARD_TESTING_MEAN_EVENTS = 15.0
GEO_MEAN_EVENTS = 1.5


def fraud_day(world: Population, day: int, legit: TxColumns) -> TxColumns:
    """Marks compromised-terminal fraud in `legit` (in place) and returns the added fraud."""
    rng = rng_for(world.config.seed, Draw.FRAUD, day)
    shares = dict(zip(SCENARIOS, world.config.mix.shares(), strict=True))
    budget = world.config.fraud_rate / (1 - world.config.fraud_rate) * len(legit)
    _mark_compromised(world, day, legit, rng)
    return TxColumns.concat(
        [
            _account_takeover(world, day, rng, budget * shares["account_takeover"]),
            _card_testing(world, day, rng, budget * shares["card_testing"]),
            _geo_anomaly(world, legit, day, rng, budget * shares["geo_anomaly"]),
            _amount_outlier(world, day, rng, budget * shares["amount_outlier"]),
        ]
    )


def active_compromises(world: Population, day: int) -> tuple[IntArray, FloatArray, FloatArray]:
    """Terminals compromised on `day`, with the share of their payments hit and the mark-up."""
    terms, hits, markups = [], [], []
    n_terminals = len(world.terminal_merchant)
    for started in range(day - MAX_COMPROMISE_DAYS + 1, day + 1):
        rng = rng_for(world.config.seed, Draw.COMPROMISES, started)
        n = rng.poisson(world.compromises_per_day) if n_terminals else 0
        term = rng.integers(0, max(n_terminals, 1), n)
        length = rng.integers(3, MAX_COMPROMISE_DAYS + 1, n)
        hit = rng.uniform(0.3, 0.8, n)
        markup = rng.uniform(1.0, 2.5, n)
        on = (day - started) < length
        terms.append(term[on])
        hits.append(hit[on])
        markups.append(markup[on])
    return np.concatenate(terms), np.concatenate(hits), np.concatenate(markups)


def _mark_compromised(world: Population, day: int, legit: TxColumns, rng: np.random.Generator) -> None:
    term, hit, markup = active_compromises(world, day)
    n_terminals = len(world.terminal_merchant)
    hit_by_terminal = np.zeros(n_terminals + 1)  # last slot: "no terminal"
    markup_by_terminal = np.ones(n_terminals + 1)
    hit_by_terminal[term] = hit
    markup_by_terminal[term] = markup
    t = legit.terminal
    hits = rng.random(len(legit)) < hit_by_terminal[t]
    legit.fraud |= hits
    legit.scenario[hits] = SCENARIOS.index("compromised_terminal")
    legit.amount[hits] = np.round(legit.amount[hits] * markup_by_terminal[t[hits]], 2)


def _group_offsets(sizes: IntArray, gaps: FloatArray) -> FloatArray:
    """Running sum of `gaps` restarting at each group; the first event of a group is at 0."""
    first = (np.cumsum(sizes) - sizes)[sizes > 0]
    gaps = gaps.copy()
    gaps[first] = 0.0
    total = np.cumsum(gaps)
    return np.asarray(total - np.repeat(total[first], sizes[sizes > 0]), dtype=np.float64)


def _fraud_columns(
    world: Population,
    rng: np.random.Generator,
    scenario: str,
    *,
    ts_ms: IntArray,
    customer: IntArray,
    merchant: IntArray,
    device: IntArray,
    amount: FloatArray,
    channel: IntArray,
    city: IntArray,
) -> TxColumns:
    """Fraud payments made in `city`: at the shop if card-present, else geolocated near the city."""
    n = len(ts_ms)
    present = channel == CARD_PRESENT
    lat = np.where(present, world.merchant_lat[merchant], world.cities.latitude[city] + rng.normal(0, 0.08, n))
    lon = np.where(present, world.merchant_lon[merchant], world.cities.longitude[city] + rng.normal(0, 0.08, n))
    return TxColumns(
        ts_ms=ts_ms.astype(np.int64),
        customer=customer,
        merchant=merchant,
        terminal=np.where(present, world.terminal_of(merchant, rng), -1),
        device=device,
        amount=np.round(np.clip(amount, 0.5, 50_000.0), 2).astype(np.float64),
        channel=channel,
        latitude=np.clip(lat, -90, 90),
        longitude=np.clip(lon, -180, 180),
        currency_city=np.where(present, world.merchant_city[merchant], world.home_city[customer]),
        country_city=np.where(present, world.merchant_city[merchant], city),
        fraud=np.ones(n, dtype=bool),
        scenario=np.full(n, SCENARIOS.index(scenario), dtype=np.int64),
    )


def _fraud_device(world: Population, rng: np.random.Generator, n: int) -> IntArray:
    return world.n_customer_devices + rng.integers(0, world.n_fraud_devices, n)


def _web_channel(rng: np.random.Generator, n: int) -> IntArray:
    return np.where(rng.random(n) < 0.5, MOBILE, ONLINE)


def _account_takeover(world: Population, day: int, rng: np.random.Generator, budget: float) -> TxColumns:
    n_inc = rng.poisson(budget / ATO_MEAN_BURST)
    victim = rng.integers(0, world.config.customers, n_inc)
    city = world.far_city(world.home_lat[victim], world.home_lon[victim], 1500.0, rng)
    device = _fraud_device(world, rng, n_inc)
    size = rng.integers(3, 11, n_inc)
    start = world.day_start_ms(day) + rng.integers(0, DAY_MS - 4 * HOUR_MS, n_inc)
    inc = np.repeat(np.arange(n_inc), size)
    ts = np.repeat(start, size) + _group_offsets(size, rng.exponential(12 * MINUTE_MS, len(inc)))
    ts = np.minimum(ts, world.day_start_ms(day + 1) - 1)
    pool = world.risky_online_pool
    amount = np.maximum(
        world.typical_amount(victim[inc]) * rng.uniform(3, 12, len(inc)),
        rng.uniform(150, 600, len(inc)),
    )
    return _fraud_columns(
        world,
        rng,
        "account_takeover",
        ts_ms=ts.astype(np.int64),
        customer=victim[inc],
        merchant=pool[rng.integers(0, len(pool), len(inc))],
        device=device[inc],
        amount=amount,
        channel=_web_channel(rng, len(inc)),
        city=city[inc],
    )


def _card_testing(world: Population, day: int, rng: np.random.Generator, budget: float) -> TxColumns:
    n_inc = rng.poisson(budget / CARD_TESTING_MEAN_EVENTS)
    victim = rng.integers(0, world.config.customers, n_inc)
    city = world.far_city(world.home_lat[victim], world.home_lon[victim], 1500.0, rng)
    device = _fraud_device(world, rng, n_inc)
    n_small = rng.integers(6, 21, n_inc)
    n_big = rng.integers(1, 4, n_inc)
    size = n_small + n_big
    start = world.day_start_ms(day) + rng.integers(0, DAY_MS - 3 * HOUR_MS, n_inc)
    inc = np.repeat(np.arange(n_inc), size)
    position = np.arange(len(inc)) - np.repeat(np.cumsum(size) - size, size)
    small = position < np.repeat(n_small, size)
    first_big = position == np.repeat(n_small, size)
    # Probes seconds apart; the cash-out a little later, once a probe went through.
    gaps = np.where(small, 3_000 + rng.exponential(25_000, len(inc)), rng.exponential(5 * MINUTE_MS, len(inc)))
    gaps = np.where(first_big, 2 * MINUTE_MS + rng.exponential(15 * MINUTE_MS, len(inc)), gaps)
    ts = np.repeat(start, size) + _group_offsets(size, gaps)
    merchant = np.empty(len(inc), dtype=np.int64)
    pool, risky = world.online_pool, world.risky_online_pool
    for i, (lo, k) in enumerate(zip(np.cumsum(size) - size, n_small, strict=True)):
        merchant[lo : lo + k] = rng.choice(pool, k, replace=len(pool) < k)  # distinct shops
        merchant[lo + k : lo + size[i]] = risky[rng.integers(0, len(risky), size[i] - k)]
    amount = np.where(small, rng.uniform(0.5, 2.0, len(inc)), rng.uniform(150, 1500, len(inc)))
    return _fraud_columns(
        world,
        rng,
        "card_testing",
        ts_ms=np.minimum(ts, world.day_start_ms(day + 1) - 1).astype(np.int64),
        customer=victim[inc],
        merchant=merchant,
        device=device[inc],
        amount=amount,
        channel=_web_channel(rng, len(inc)),
        city=city[inc],
    )


def _geo_anomaly(world: Population, legit: TxColumns, day: int, rng: np.random.Generator, budget: float) -> TxColumns:
    anchors_ok = np.flatnonzero(legit.ts_ms < world.day_start_ms(day + 1) - 2 * HOUR_MS)
    n_inc = rng.poisson(budget / GEO_MEAN_EVENTS) if len(anchors_ok) else 0
    anchor = anchors_ok[rng.integers(0, max(len(anchors_ok), 1), n_inc)]
    city = world.far_city(legit.latitude[anchor], legit.longitude[anchor], 2500.0, rng)
    size = 1 + (rng.random(n_inc) < 0.5).astype(np.int64)
    inc = np.repeat(np.arange(n_inc), size)
    first_gap = rng.uniform(5, 90, n_inc) * MINUTE_MS
    later_gaps = rng.uniform(2, 30, len(inc)) * MINUTE_MS
    ts = legit.ts_ms[anchor][inc] + first_gap[inc] + _group_offsets(size, later_gaps)
    customer = legit.customer[anchor][inc]
    merchant = world.shop_in(city[inc], rng)
    factor = np.array([c.amount_factor for c in CATEGORIES])[world.merchant_category[merchant]]
    return _fraud_columns(
        world,
        rng,
        "geo_anomaly",
        ts_ms=ts.astype(np.int64),
        customer=customer,
        merchant=merchant,
        device=np.full(len(inc), -1, dtype=np.int64),
        amount=world.typical_amount(customer) * factor * rng.uniform(1.5, 6.0, len(inc)),
        channel=np.full(len(inc), CARD_PRESENT, dtype=np.int64),
        city=city[inc],
    )


def _amount_outlier(world: Population, day: int, rng: np.random.Generator, budget: float) -> TxColumns:
    n = rng.poisson(budget)
    customer = rng.integers(0, world.config.customers, n)
    online = rng.random(n) < world.online_share[customer]
    shop = world.favourite_shops[customer, rng.integers(0, world.favourite_shops.shape[1], n)]
    site = world.favourite_sites[customer, rng.integers(0, world.favourite_sites.shape[1], n)]
    merchant = np.where(online, site, shop)
    channel = np.where(online, _web_channel(rng, n), CARD_PRESENT)
    return _fraud_columns(
        world,
        rng,
        "amount_outlier",
        ts_ms=world.day_start_ms(day) + rng.integers(0, DAY_MS, n),
        customer=customer,
        merchant=merchant,
        device=np.where(online, world.device_of(customer, rng), -1),
        amount=world.typical_amount(customer) * rng.uniform(15, 60, n),
        channel=channel,
        city=world.home_city[customer],
    )
