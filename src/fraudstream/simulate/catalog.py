"""Constants of the synthetic world: time units, channels, merchant categories, random streams."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np

from fraudstream.schema import Channel

__all__ = [
    "CARD_PRESENT",
    "CATEGORIES",
    "CHANNELS",
    "DAY_MS",
    "HOUR_MS",
    "MINUTE_MS",
    "MOBILE",
    "ONLINE",
    "WEEKDAY_FACTOR",
    "Category",
    "Draw",
    "rng_for",
]

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000

CHANNELS: Final = (Channel.CARD_PRESENT, Channel.ONLINE, Channel.MOBILE)
CARD_PRESENT, ONLINE, MOBILE = 0, 1, 2


@dataclass(frozen=True)
class Category:
    name: str
    weight: float  # share of merchants
    amount_factor: float  # multiplies a customer's typical amount
    online_share: float  # share of merchants in the category that sell online only
    high_risk: bool  # what fraudsters buy: resellable goods


CATEGORIES: Final = (
    Category("grocery", 0.18, 0.8, 0.05, False),
    Category("restaurant", 0.15, 1.0, 0.0, False),
    Category("fuel", 0.07, 1.3, 0.0, False),
    Category("pharmacy", 0.05, 0.7, 0.1, False),
    Category("apparel", 0.08, 1.8, 0.4, False),
    Category("transport", 0.06, 0.6, 0.3, False),
    Category("entertainment", 0.06, 1.2, 0.4, False),
    Category("utilities", 0.03, 2.5, 0.9, False),
    Category("travel", 0.05, 6.0, 0.7, False),
    Category("online_retail", 0.10, 1.5, 1.0, False),
    Category("electronics", 0.06, 4.0, 0.5, True),
    Category("digital_goods", 0.05, 0.6, 1.0, True),
    Category("gift_cards", 0.03, 2.5, 0.8, True),
    Category("jewelry", 0.03, 8.0, 0.3, True),
)

# Monday..Sunday: more shopping on Fridays and Saturdays, less on Sundays.
WEEKDAY_FACTOR: Final = np.array([0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85])


class Draw(IntEnum):
    """Independent random streams, so that adding draws to one part of the simulator
    never shifts the numbers another part sees."""

    ENTITIES = 0
    TRAFFIC = 1
    TRIPS = 2
    COMPROMISES = 3
    FRAUD = 4
    LABELS = 5


def rng_for(seed: int, draw: Draw, day: int = 0) -> np.random.Generator:
    # Offset so that days before the start (trips already under way) seed fine too.
    return np.random.default_rng([seed, int(draw), day + (1 << 20)])
