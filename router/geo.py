"""Great-circle distance (SPEC section 3): haversine, Earth radius 6371.0 km.

Two forms of the one formula: vectorised over numpy arrays (compilation, the generator) and
scalar with :mod:`math` (the verifier). On a zone edge the last bit decides eligibility, so
compilation recomputes pairs within a hair of an edge with the scalar form, which the verifier
uses too.
"""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0

FloatArray = np.ndarray


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray,
                 lon2: FloatArray) -> FloatArray:
    """Great-circle distance in km (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    return haversine_rad(p1, np.radians(lon1), np.cos(p1), p2, np.radians(lon2), np.cos(p2))


def haversine_rad(p1: FloatArray, l1: FloatArray, c1: FloatArray, p2: FloatArray,
                  l2: FloatArray, c2: FloatArray) -> FloatArray:
    """Haversine on radians with the cosines of the latitudes given (so callers can take
    them once per node and per order)."""
    h = np.sin((p2 - p1) / 2.0) ** 2 + c1 * c2 * np.sin((l2 - l1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def haversine_km_scalar(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km of one pair, with :mod:`math`."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2) - math.radians(lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))
