"""Prices of a batch's scarce stock and capacity: the duals of its LP relaxation.

The MIP model of :mod:`router.solvers.exact.model`, integrality dropped, is solved by HiGHS
(in a child process, :mod:`router.solvers.exact.lp`) within a time limit. When HiGHS proves the LP optimal, its optimum is a proven lower bound on
the cost of every plan of the batch, and the duals of the rows that limit it are prices (per
unit of the limit, never negative):

- ``stock``: one more available unit of a SKU at a node, ``(node, sku)``;
- ``node_units`` and ``node_packages``: one more unit or package of a node's capacity;
- ``order_packages``: one more package allowed to an order.

A price is what one more unit of that limit would save the relaxed batch: the opportunity cost
of using it, which a planner can act on (move stock, add labour at a node, let an order split).
They are LP prices, not integer ones: the relaxation may split a package's fixed cost, so they
show where the batch is short rather than the exact saving of one more unit in an integer plan.
Limits that can never bind are not rows of the model and have no price. When the LP is not
solved in time there are no prices at all (a dual solution that is not optimal proves nothing
about these prices).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from router.compile import Problem, compile_problem
from router.instance import GapInstance, Instance
from router.solvers.exact import lp as highs_lp
from router.solvers.exact.model import ROW_KINDS, build_model

log = logging.getLogger(__name__)

METHOD = "LP relaxation duals (HiGHS)"
DEFAULT_TIME_LIMIT = 10.0
"""Seconds for building and solving the LP, unless the caller gives its own."""
PRICE_TOL = 1e-9
HARD_GRACE = 0.5  # seconds past the time limit before the LP's process is killed


def _empty() -> Mapping[Any, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DualPrices:
    """The LP relaxation's prices of one batch (see the module docstring).

    ``status`` is ``optimal`` (prices and bound proven), ``time-limit``, ``not-solved`` or
    ``unavailable`` (HiGHS missing); ``message`` says it in words. Only positive prices are
    kept: a limit absent from a mapping is not scarce in the relaxation.
    """

    status: str
    message: str
    bound: float | None = None
    seconds: float = 0.0
    stock: Mapping[tuple[str, str], float] = field(default_factory=_empty)
    node_units: Mapping[str, float] = field(default_factory=_empty)
    node_packages: Mapping[str, float] = field(default_factory=_empty)
    order_packages: Mapping[str, float] = field(default_factory=_empty)
    method: str = METHOD

    @property
    def solved(self) -> bool:
        return self.status == "optimal"


def lp_prices(instance: Instance | GapInstance, time_limit: float | None = DEFAULT_TIME_LIMIT,
              *, problem: Problem | None = None) -> DualPrices:
    """Solve the LP relaxation of ``instance`` within ``time_limit`` seconds (compilation and
    model building included) and return its prices. HiGHS runs in a child process killed at
    the deadline (:mod:`router.solvers.exact.lp`): the caller's process is left as it was."""
    t0 = time.perf_counter()
    if not highs_lp.available():
        return DualPrices("unavailable", "HiGHS (highspy) is not installed: no prices")
    p = compile_problem(instance) if problem is None else problem
    model = build_model(p)
    if model.n_cols == 0 or model.n_rows == 0:
        return DualPrices("optimal", "nothing to price", 0.0, time.perf_counter() - t0)
    ptr, rows, vals = model.csc()
    lp = highs_lp.ColumnLp(cost=np.asarray(model.obj, dtype=np.float64),
                           col_lower=np.asarray(model.col_lb, dtype=np.float64),
                           col_upper=np.asarray(model.col_ub, dtype=np.float64),
                           row_lower=np.asarray(model.row_lb, dtype=np.float64),
                           row_upper=np.asarray(model.row_ub, dtype=np.float64),
                           start=ptr, index=rows, value=np.asarray(vals, dtype=np.float64))
    left = None
    if time_limit is not None:
        left = float(time_limit) - (time.perf_counter() - t0)
        if left <= 0:
            return DualPrices("time-limit", f"no time left to solve the LP within "
                                            f"{time_limit:g} s", None, time.perf_counter() - t0)
    hard = None if left is None else time.perf_counter() + left + HARD_GRACE
    ans = highs_lp.solve_lp(lp, left, hard)
    seconds = time.perf_counter() - t0
    if ans.status != "optimal" or ans.row_dual is None or ans.objective is None:
        if ans.status == "limit" or (left is not None and seconds >= left):
            return DualPrices("time-limit", f"the LP was not solved within {time_limit:g} s",
                              None, seconds)
        return DualPrices("not-solved", f"HiGHS ended the LP: {ans.status}"
                                        + (f" ({ans.detail})" if ans.detail else ""),
                          None, seconds)
    price = np.maximum(0.0, -ans.row_dual)  # a binding <= row of a minimum has a dual <= 0
    kinds, refs = model.row_kind, model.row_ref

    def priced(kind: str) -> tuple[np.ndarray, np.ndarray]:
        r = np.flatnonzero((kinds == ROW_KINDS.index(kind)) & (price > PRICE_TOL))
        return refs[r], price[r]

    pools, v = priced("stock")
    stock = {(p.node_ids[int(p.pool_node[q])], p.sku_ids[int(p.pool_sku[q])]): float(x)
             for q, x in zip(pools.tolist(), v.tolist(), strict=True)}
    by_node = {}
    for kind in ("cap", "pkg"):
        nodes, v = priced(kind)
        by_node[kind] = {p.node_ids[n]: float(x) for n, x in zip(nodes.tolist(), v.tolist(),
                                                                 strict=True)}
    orders, v = priced("opkg")
    opkg = {p.order_ids[o]: float(x) for o, x in zip(orders.tolist(), v.tolist(), strict=True)}
    bound = float(ans.objective)
    log.debug("LP prices of %s: bound %.6f in %.3f s", p.name, bound, seconds)
    return DualPrices("optimal", f"LP optimum {bound:,.4f} proven in {seconds:.2f} s", bound,
                      seconds, MappingProxyType(stock), MappingProxyType(by_node["cap"]),
                      MappingProxyType(by_node["pkg"]), MappingProxyType(opkg))
