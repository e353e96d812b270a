"""Random sale-day-like batches for the heuristic benchmarks when ``router.generate`` is not
at hand (same shape: warehouses and stores across eastern China, 1-4 lines per order)."""

from __future__ import annotations

from typing import Any

import numpy as np

from router.instance import Instance

ZONES = [{"max_km": 50, "per_package": 5.0, "per_kg": 0.5},
         {"max_km": 500, "per_package": 8.0, "per_kg": 1.5},
         {"max_km": 3000, "per_package": 12.0, "per_kg": 4.0}]


def random_batch_dict(seed: int, n_orders: int, n_nodes: int = 50, n_skus: int = 500,
                      stock_ratio: float = 1.5, capacity_ratio: float = 1.3) -> dict[str, Any]:
    """A batch as an ``router/instance-v1`` mapping. ``stock_ratio``: total stock of a SKU
    over its demand; ``capacity_ratio``: total node unit capacity over total demand."""
    rng = np.random.default_rng(seed)
    skus = [{"id": f"S{i}", "weight_kg": round(float(rng.uniform(0.1, 8.0)), 2),
             **({"store_eligible": False} if rng.random() < 0.1 else {})} for i in range(n_skus)]
    pop = rng.zipf(1.3, size=n_skus).astype(float)
    pop /= pop.sum()
    n_lines = np.minimum(rng.geometric(0.55, size=n_orders), 4)
    orders = []
    demand = np.zeros(n_skus)
    for i in range(n_orders):
        ss = rng.choice(n_skus, size=int(n_lines[i]), replace=False, p=pop)
        lines = []
        for s in ss.tolist():
            q = int(rng.integers(1, 4))
            demand[s] += q
            lines.append({"sku": f"S{s}", "qty": q})
        o: dict[str, Any] = {"id": f"O{i}", "lat": float(rng.uniform(22, 40)),
                             "lon": float(rng.uniform(105, 122)), "lines": lines}
        if rng.random() < 0.1:
            o["service"] = "express"
        if rng.random() < 0.2:
            o["max_packages"] = 1
        orders.append(o)
    nodes = []
    total = float(demand.sum())
    for j in range(n_nodes):
        store = j >= int(0.6 * n_nodes)
        share = 1.0 / n_nodes
        inv = {}
        stocked = rng.random(n_skus) < (0.3 if store else 0.7)
        for s in np.flatnonzero(stocked).tolist():
            mean = demand[s] * stock_ratio * share / (0.3 if store else 0.7) * 0.9
            q = int(rng.poisson(mean + 0.3))
            if q > 0:
                inv[f"S{s}"] = q
        node: dict[str, Any] = {
            "id": f"N{j}", "kind": "store" if store else "warehouse",
            "lat": float(rng.uniform(22, 40)), "lon": float(rng.uniform(105, 122)),
            "handling_per_unit": round(float(rng.uniform(0.2, 1.0)), 2),
            "handling_per_package": round(float(rng.uniform(0.5, 2.0)), 2),
            "max_units": int(total * capacity_ratio / n_nodes * rng.uniform(0.5, 1.5)),
            "max_packages": int(n_orders * 1.5 / n_nodes * rng.uniform(0.5, 1.5)) + 1,
            "safety_stock": 1 if store else 0, "inventory": inv}
        nodes.append(node)
    return {"name": f"random-{n_orders}-{seed}", "shipping": {"zones": ZONES,
                                                             "express_max_km": 300},
            "unfilled_penalty": 60.0, "default_max_packages": 3, "skus": skus,
            "nodes": nodes, "orders": orders}


def random_batch(seed: int, n_orders: int, **kw: Any) -> Instance:
    return Instance.from_dict(random_batch_dict(seed, n_orders, **kw))
