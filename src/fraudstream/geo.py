"""Great-circle geometry shared by the simulator and the feature engine."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "haversine_km", "unit_vectors"]

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat1: FloatArray | float,
    lon1: FloatArray | float,
    lat2: FloatArray | float,
    lon2: FloatArray | float,
) -> FloatArray:
    """Great-circle distance in km, element-wise.

    >>> round(float(haversine_km(48.8566, 2.3522, 51.5074, -0.1278)), 1)  # Paris -> London
    343.6
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def unit_vectors(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Points on the unit sphere; their mean is a centroid that works across the antimeridian."""
    phi, lmb = np.radians(lat), np.radians(lon)
    return np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)
