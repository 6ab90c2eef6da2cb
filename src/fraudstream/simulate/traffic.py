"""Legitimate everyday spending: who buys what, where, when and how much."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt

from fraudstream.simulate.catalog import (
    CARD_PRESENT,
    CATEGORIES,
    DAY_MS,
    HOUR_MS,
    MOBILE,
    ONLINE,
    WEEKDAY_FACTOR,
    Draw,
    rng_for,
)
from fraudstream.simulate.columns import NO_SCENARIO, TxColumns
from fraudstream.simulate.population import Population

__all__ = ["legit_day", "trip_destinations"]

MAX_TRIP_DAYS = 7
TRIP_START_PROBABILITY = 0.002  # per customer and day
FAVOURITE_SHOP_SHARE = 0.8
FAVOURITE_SITE_SHARE = 0.7


def trip_destinations(world: Population, day: int) -> npt.NDArray[np.int64]:
    """The city each customer is travelling in on `day`, -1 for those at home."""
    dest = np.full(world.config.customers, -1, dtype=np.int64)
    for started in range(day - MAX_TRIP_DAYS + 1, day + 1):
        rng = rng_for(world.config.seed, Draw.TRIPS, started)
        leaving = np.flatnonzero(rng.random(world.config.customers) < TRIP_START_PROBABILITY)
        length = rng.integers(2, MAX_TRIP_DAYS + 1, len(leaving))
        city = world.shop_cities[rng.integers(0, len(world.shop_cities), len(leaving))]
        on_trip = (day - started) < length
        dest[leaving[on_trip]] = city[on_trip]
    return dest


def legit_day(world: Population, day: int) -> TxColumns:
    rng = rng_for(world.config.seed, Draw.TRAFFIC, day)
    cities = world.cities
    weekday = (world.config.start + timedelta(days=day)).weekday()
    counts = rng.poisson(world.rate * WEEKDAY_FACTOR[weekday])
    customer = np.repeat(np.arange(world.config.customers), counts)
    n = len(customer)

    trip = trip_destinations(world, day)[customer]
    city = np.where(trip >= 0, trip, world.home_city[customer])
    online = rng.random(n) < world.online_share[customer]

    # Shops: mostly the usual ones at home, any shop in town when travelling or exploring.
    usual = world.favourite_shops[customer, rng.integers(0, world.favourite_shops.shape[1], n)]
    explore = (trip >= 0) | (rng.random(n) >= FAVOURITE_SHOP_SHARE)
    shop = np.where(explore, world.shop_in(city, rng), usual)
    site_usual = world.favourite_sites[customer, rng.integers(0, world.favourite_sites.shape[1], n)]
    site_any = world.online_pool[rng.integers(0, len(world.online_pool), n)]
    site = np.where(rng.random(n) < FAVOURITE_SITE_SHARE, site_usual, site_any)
    merchant = np.where(online, site, shop)

    # Time: the customer's local habits, mapped onto this UTC day.
    local_hour = np.mod(world.peak_hour[customer] + world.hour_spread[customer] * rng.standard_normal(n), 24.0)
    utc_hour = np.mod(local_hour - cities.utc_offset_hours[city], 24.0)
    ts_ms = world.day_start_ms(day) + np.minimum((utc_hour * HOUR_MS).astype(np.int64), DAY_MS - 1)

    factor = np.array([c.amount_factor for c in CATEGORIES])[world.merchant_category[merchant]]
    amount = np.exp(world.amount_mu[customer] + world.amount_sigma[customer] * rng.standard_normal(n)) * factor
    amount = np.round(np.clip(amount, 0.5, 25_000.0), 2)

    channel = np.where(online, np.where(rng.random(n) < 0.5, MOBILE, ONLINE), CARD_PRESENT)
    # Online payments are located where the customer is (IP geolocation, a few km off).
    lat = np.where(online, cities.latitude[city] + rng.normal(0, 0.08, n), world.merchant_lat[merchant])
    lon = np.where(online, cities.longitude[city] + rng.normal(0, 0.08, n), world.merchant_lon[merchant])
    device = np.where(online, world.device_of(customer, rng), -1)
    terminal = np.where(online, -1, world.terminal_of(merchant, rng))
    # Cards are charged in the shop's local currency, online in the card's own.
    shop_city = world.merchant_city[merchant]
    return TxColumns(
        ts_ms=ts_ms,
        customer=customer,
        merchant=merchant,
        terminal=terminal,
        device=device,
        amount=amount,
        channel=channel,
        latitude=np.clip(lat, -90, 90),
        longitude=np.clip(lon, -180, 180),
        currency_city=np.where(online, world.home_city[customer], shop_city),
        country_city=np.where(online, city, shop_city),
        fraud=np.zeros(n, dtype=bool),
        scenario=np.full(n, NO_SCENARIO, dtype=np.int64),
    )
