"""Hypothesis strategies for random small valid ``router/instance-v1`` batches.

``instance_dicts()`` draws the plain mapping (as a YAML/JSON file would hold it) and
``instances()`` the validated :class:`router.Instance`. The batches mix warehouses and stores,
store-ineligible SKUs, express orders, safety stock, unit and package capacities (zero
included), order package limits, per-order penalties, service radii and nodes beyond the last
zone, within about 300 km of one point so that every zone is used.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from router.instance import Instance

CENTRE = (30.0, 120.0)

_money = st.floats(min_value=0.0, max_value=10.0, allow_nan=False).map(lambda v: round(v, 2))
_per_kg = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


@st.composite
def _coords(draw: st.DrawFn, spread: float = 2.0) -> tuple[float, float]:
    dlat = draw(st.floats(min_value=-spread, max_value=spread, allow_nan=False))
    dlon = draw(st.floats(min_value=-spread, max_value=spread, allow_nan=False))
    return CENTRE[0] + dlat, CENTRE[1] + dlon


@st.composite
def instance_dicts(draw: st.DrawFn, max_nodes: int = 5, max_orders: int = 6,
                   max_skus: int = 4) -> dict[str, Any]:
    n_zones = draw(st.integers(1, 3))
    # inner zones anywhere up to 240 km; the last one reaches 250-700 km (some nodes beyond)
    limits = sorted(draw(st.lists(st.integers(20, 240), min_size=n_zones - 1,
                                  max_size=n_zones - 1, unique=True)))
    limits.append(draw(st.integers(250, 700)))
    zones = [{"max_km": float(km), "per_package": draw(_money), "per_kg": draw(_per_kg)}
             for km in limits]
    shipping: dict[str, Any] = {"zones": zones}
    if draw(st.booleans()):
        shipping["express_max_km"] = float(draw(st.integers(10, 300)))

    n_skus = draw(st.integers(1, max_skus))
    skus: list[dict[str, Any]] = []
    for k in range(n_skus):
        s: dict[str, Any] = {"id": f"S{k}", "weight_kg": draw(st.sampled_from(
            [0.0, 0.2, 0.5, 1.0, 2.5, 12.0]))}
        if draw(st.integers(0, 3)) == 0:
            s["store_eligible"] = False
        skus.append(s)
    sku_ids = [s["id"] for s in skus]

    nodes: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, max_nodes))):
        lat, lon = draw(_coords())
        n: dict[str, Any] = {"id": f"N{i}", "kind": draw(st.sampled_from(["warehouse", "store"])),
                             "lat": lat, "lon": lon}
        if draw(st.booleans()):
            n["handling_per_unit"] = draw(_money)
        if draw(st.booleans()):
            n["handling_per_package"] = draw(_money)
        if draw(st.integers(0, 2)) == 0:
            n["max_packages"] = draw(st.integers(0, 4))
        if draw(st.integers(0, 2)) == 0:
            n["max_units"] = draw(st.integers(0, 10))
        if draw(st.integers(0, 2)) == 0:
            n["safety_stock"] = draw(st.integers(0, 3))
        if draw(st.integers(0, 4)) == 0:
            n["service_radius_km"] = float(draw(st.integers(0, 400)))
        held = [s for s in sku_ids if draw(st.integers(0, 3)) > 0]
        n["inventory"] = {s: draw(st.integers(0, 12)) for s in held}
        nodes.append(n)

    orders: list[dict[str, Any]] = []
    for j in range(draw(st.integers(1, max_orders))):
        lat, lon = draw(_coords())
        o: dict[str, Any] = {"id": f"O{j}", "lat": lat, "lon": lon}
        if draw(st.integers(0, 2)) == 0:
            o["service"] = "express"
        if draw(st.integers(0, 2)) == 0:
            o["max_packages"] = draw(st.integers(1, 3))
        if draw(st.integers(0, 2)) == 0:
            o["unfilled_penalty"] = draw(st.sampled_from([0.0, 3.0, 15.0, 60.0, 500.0]))
        # repeated SKUs are allowed: validation merges them
        o["lines"] = [{"sku": draw(st.sampled_from(sku_ids)), "qty": draw(st.integers(1, 4))}
                      for _ in range(draw(st.integers(1, 3)))]
        orders.append(o)

    d: dict[str, Any] = {"format": "router/instance-v1", "name": "random", "shipping": shipping,
                         "unfilled_penalty": draw(st.sampled_from([5.0, 40.0, 200.0, 1000.0])),
                         "skus": skus, "nodes": nodes, "orders": orders}
    if draw(st.booleans()):
        d["default_max_packages"] = draw(st.integers(1, 3))
    return d


def instances(**kwargs: Any) -> st.SearchStrategy[Instance]:
    """Random small valid instances (see :func:`instance_dicts`)."""
    return instance_dicts(**kwargs).map(Instance.from_dict)
