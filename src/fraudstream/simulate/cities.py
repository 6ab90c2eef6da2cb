"""The embedded table of world cities the synthetic world lives in."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

__all__ = ["Cities", "load_cities"]


@dataclass(frozen=True)
class Cities:
    name: npt.NDArray[np.str_]
    country: npt.NDArray[np.str_]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    population: npt.NDArray[np.float64]
    currency: npt.NDArray[np.str_]
    utc_offset_hours: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.name)


@cache
def load_cities() -> Cities:
    """Cities with coordinates, population, currency and standard UTC offset (GeoNames, CC BY 4.0)."""
    text = resources.files("fraudstream.simulate").joinpath("data/cities.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return Cities(
        name=np.array([r["name"] for r in rows]),
        country=np.array([r["country"] for r in rows]),
        latitude=np.array([float(r["latitude"]) for r in rows]),
        longitude=np.array([float(r["longitude"]) for r in rows]),
        population=np.array([float(r["population"]) for r in rows]),
        currency=np.array([r["currency"] for r in rows]),
        utc_offset_hours=np.array([float(r["utc_offset_hours"]) for r in rows]),
    )
