"""Time loading and compiling a large batch: ``python -m benchmarks.load_speed [N_ORDERS]``.

Builds a ``router/instance-v1`` JSON batch of N orders (default 200,000) over 40 nodes and
500 SKUs in a temporary directory, then times ``router.io.read`` (read + parse + validate) and
``router.compile_problem`` separately.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import router


def build_batch(n_orders: int, n_nodes: int = 40, n_skus: int = 500, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    skus = [{"id": f"S{k}", "weight_kg": round(rng.uniform(0.1, 20.0), 2)}
            | ({"store_eligible": False} if k % 7 == 0 else {}) for k in range(n_skus)]
    nodes = []
    for i in range(n_nodes):
        store = i % 3 == 0
        inv = {f"S{k}": rng.randint(0, 500) for k in rng.sample(range(n_skus), n_skus // 2)}
        nodes.append({"id": f"N{i}", "kind": "store" if store else "warehouse",
                      "lat": rng.uniform(22.0, 40.0), "lon": rng.uniform(100.0, 122.0),
                      "handling_per_unit": 0.3, "handling_per_package": 1.0,
                      "max_packages": 20000, "safety_stock": 2 if store else 0,
                      "inventory": inv})
    orders = []
    for j in range(n_orders):
        n_lines = rng.choice((1, 1, 1, 2, 2, 3))
        lines = [{"sku": f"S{k}", "qty": rng.randint(1, 3)}
                 for k in rng.sample(range(n_skus), n_lines)]
        o: dict[str, Any] = {"id": f"O{j}", "lat": rng.uniform(22.0, 40.0),
                             "lon": rng.uniform(100.0, 122.0), "lines": lines}
        if j % 10 == 0:
            o["service"] = "express"
        orders.append(o)
    return {"format": "router/instance-v1", "name": f"load-speed-{n_orders}",
            "shipping": {"zones": [{"max_km": 300, "per_package": 5.0, "per_kg": 0.5},
                                   {"max_km": 1000, "per_package": 8.0, "per_kg": 1.5},
                                   {"max_km": 3000, "per_package": 12.0, "per_kg": 4.0}],
                         "express_max_km": 500},
            "unfilled_penalty": 200.0, "default_max_packages": 3,
            "skus": skus, "nodes": nodes, "orders": orders}


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.json"
        path.write_text(json.dumps(build_batch(n)), encoding="utf-8")
        size_mb = path.stat().st_size / 1e6
        t0, c0 = time.perf_counter(), time.process_time()
        inst = router.load(path)
        t1, c1 = time.perf_counter(), time.process_time()
        problem = router.compile_problem(inst)
        t2, c2 = time.perf_counter(), time.process_time()
    print(f"{n} orders, {size_mb:.1f} MB JSON: load {t1 - t0:.2f} s (CPU {c1 - c0:.2f} s), "
          f"compile {t2 - t1:.2f} s (CPU {c2 - c1:.2f} s), total {t2 - t0:.2f} s; "
          f"{problem.summary()}")


if __name__ == "__main__":
    main(sys.argv[1:])
