"""Prices of a batch's scarce stock and capacity, each with the proven bound it comes from.

Two methods, one answer (:class:`BatchPrices`, :func:`batch_prices`):

- ``lp`` (:func:`lp_prices`): the MIP model of :mod:`router.solvers.exact.model`,
  integrality dropped, solved by HiGHS (in a child process, :mod:`router.solvers.exact.lp`).
  When HiGHS proves the LP optimal, its optimum is a proven lower bound on the cost of every
  plan of the batch, and the duals of the rows that limit it are the prices. A dual solution
  that is not optimal proves nothing: an LP not solved in time gives no prices.
- ``lagrangian`` (:func:`lagrangian_prices`): the Lagrangian dual of the coupling rows
  (stock pools, node packages, node units), maximised by column generation over per-order
  integer plans (:mod:`router.solvers.bounds.dual`, in a child process). Every price vector
  it evaluates proves a bound on its own, so the prices of the best bound met are proven even
  when column generation stops before converging (``converged`` says which); converged, the
  bound is the Dantzig-Wolfe bound, at least the LP's. An order's package limit stays inside
  its subproblem: these prices have no ``order_packages``.

:func:`batch_prices` tries the LP where its expected time (line-arcs times
:attr:`PriceParams.lp_seconds_per_line_arc`) fits in a share of the time left, and column
generation where it does not or where the LP was not solved, within the remaining time.

Prices are per unit of a limit, never negative:

- ``stock``: one more available unit of a SKU at a node, ``(node, sku)``;
- ``node_units`` and ``node_packages``: one more unit or package of a node's capacity;
- ``order_packages`` (LP only): one more package allowed to an order.

A price is what one more unit of that limit would save the relaxed batch: the opportunity cost
of using it, which a planner can act on (move stock, add labour at a node, let an order split).
They are prices of a relaxation, not of the integer problem: they show where the batch is
short rather than the exact saving of one more unit in an integer plan. Limits that can never
bind have no price.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from router.compile import Problem, compile_problem
from router.contract import Budget
from router.instance import GapInstance, Instance
from router.solvers.bounds.dual import BoundParams
from router.solvers.exact import lp as highs_lp
from router.solvers.exact.model import ROW_KINDS, build_model

log = logging.getLogger(__name__)

LP = "lp"
LAGRANGIAN = "lagrangian"
METHOD_NAMES = {LP: "LP relaxation duals (HiGHS)",
                LAGRANGIAN: "Lagrangian prices (column generation)"}
PROVEN = "proven"
NONE = "none"
METHOD = METHOD_NAMES[LP]  # the name of the LP method, as before
DEFAULT_TIME_LIMIT = 10.0
"""Seconds for computing the prices (compilation included), unless the caller gives its own."""
PRICE_TOL = 1e-9
HARD_GRACE = 0.5  # seconds past the time limit before the LP's process is killed
# stop codes of column generation (router.solvers.bounds.dual.BoundStats.stop) at which its
# bound is the Dantzig-Wolfe bound (with every subproblem solved exactly)
_CONVERGED = frozenset({"converged", "no_column", "feasible", "empty"})


def _empty() -> Mapping[Any, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class PriceParams:
    """How :func:`batch_prices` chooses its method (validated).

    ``method``: ``auto`` (below), ``lp`` (the LP only, the whole time) or ``lagrangian``
    (column generation only). ``auto`` tries the LP when ``lp_seconds_per_line_arc`` times
    the batch's line-arcs fits in ``lp_share`` of the time left (always without a time
    limit), giving it that share; column generation runs where the LP is not tried or not
    solved, within the time left. The rate is measured (HiGHS, one thread, wall clock):
    15,355 line-arcs 0.5 s, 49,720 2.2 s, 99,821 6.2 s, 201,451 more than 10 s; 6e-5 s is
    the slowest of them per line-arc, so the default 10 s tries the LP up to about 83,000
    line-arcs. ``bound``: the tuning of column generation.
    """

    method: str = "auto"
    lp_seconds_per_line_arc: float = 6e-5
    lp_share: float = 0.5
    bound: BoundParams = field(default_factory=BoundParams)

    def __post_init__(self) -> None:
        if self.method not in ("auto", LP, LAGRANGIAN):
            raise ValueError(f"method must be auto, lp or lagrangian, not {self.method!r}")
        if not (math.isfinite(self.lp_seconds_per_line_arc)
                and self.lp_seconds_per_line_arc >= 0.0):
            raise ValueError("lp_seconds_per_line_arc must be a finite number >= 0")
        if not 0.0 < self.lp_share <= 1.0:
            raise ValueError("lp_share must be in (0, 1]")

    def lp_first(self, line_arcs: int, seconds_left: float) -> bool:
        """Does ``auto`` try the LP on a batch of ``line_arcs`` with ``seconds_left``?"""
        return self.lp_seconds_per_line_arc * line_arcs <= self.lp_share * seconds_left


@dataclass(frozen=True)
class BatchPrices:
    """The prices of one batch (see the module docstring).

    ``method``: ``lp`` or ``lagrangian`` (:attr:`method_name` in words). ``status``:
    ``proven`` (``bound`` is a lower bound on every plan of the batch, proven at these
    prices) or ``none`` (no prices: ``message`` says why). ``converged``: the method ended at
    its optimum (the LP solved; column generation converged); proven but not converged are
    column generation's best prices when it stopped early, with a weaker bound. ``detail``:
    how the method ended (LP: ``optimal``, ``time-limit``, ``not-solved``, ``unavailable``;
    column generation: its stop code). ``tried``: what an earlier method said, when it gave
    no prices. Only positive prices are kept: a limit absent from a mapping is not scarce.
    """

    status: str
    message: str
    bound: float | None = None
    seconds: float = 0.0
    stock: Mapping[tuple[str, str], float] = field(default_factory=_empty)
    node_units: Mapping[str, float] = field(default_factory=_empty)
    node_packages: Mapping[str, float] = field(default_factory=_empty)
    order_packages: Mapping[str, float] = field(default_factory=_empty)
    method: str = LP
    converged: bool = False
    detail: str = ""
    tried: tuple[str, ...] = ()

    @property
    def solved(self) -> bool:
        """Are there prices, with a proven bound?"""
        return self.status == PROVEN

    @property
    def method_name(self) -> str:
        return METHOD_NAMES.get(self.method, self.method)


DualPrices = BatchPrices
"""The former name of :class:`BatchPrices`."""


def _budget(time_limit: float | None, budget: Budget | None) -> Budget:
    return Budget.start(time_limit) if budget is None else budget.within(time_limit)


def batch_prices(instance: Instance | GapInstance, time_limit: float | None = DEFAULT_TIME_LIMIT,
                 *, budget: Budget | None = None, params: PriceParams | None = None,
                 problem: Problem | None = None) -> BatchPrices:
    """The prices of ``instance`` within ``time_limit`` seconds (or ``budget``, whichever ends
    first; compilation included) by the method ``params`` chooses (:class:`PriceParams`)."""
    t0 = time.perf_counter()
    params = params or PriceParams()
    budget = _budget(time_limit, budget)
    p = compile_problem(instance) if problem is None else problem
    tried: tuple[str, ...] = ()
    left = budget.remaining()
    if params.method == LP or (params.method == "auto" and params.lp_first(p.n_line_arcs, left)):
        share = 1.0 if params.method == LP else params.lp_share
        lp = lp_prices(instance, None, budget=budget.share(share), problem=p)
        if lp.solved or params.method == LP:
            return replace(lp, seconds=time.perf_counter() - t0)
        tried = (f"{lp.method_name}: {lp.message}",)
        log.debug("prices of %s: %s; column generation instead", p.name, lp.message)
    elif params.method == "auto":
        tried = (f"{METHOD_NAMES[LP]}: not tried, {p.n_line_arcs:,} line-arcs would take about "
                 f"{params.lp_seconds_per_line_arc * p.n_line_arcs:.3g} s, more than "
                 f"{params.lp_share:g} of the {left:.3g} s left",)
    lag = lagrangian_prices(instance, None, budget=budget, params=params.bound, problem=p)
    return replace(lag, seconds=time.perf_counter() - t0, tried=tried)


def lp_prices(instance: Instance | GapInstance, time_limit: float | None = DEFAULT_TIME_LIMIT,
              *, problem: Problem | None = None, budget: Budget | None = None) -> BatchPrices:
    """Solve the LP relaxation of ``instance`` within ``time_limit`` seconds (or ``budget``;
    compilation and model building included) and return its prices. HiGHS runs in a child
    process killed at the deadline (:mod:`router.solvers.exact.lp`): the caller's process is
    left as it was."""
    t0 = time.perf_counter()
    budget = _budget(time_limit, budget)
    if not highs_lp.available():
        return BatchPrices(NONE, "HiGHS (highspy) is not installed: no prices",
                           detail="unavailable")
    p = compile_problem(instance) if problem is None else problem
    model = build_model(p)
    if model.n_cols == 0 or model.n_rows == 0:
        return BatchPrices(PROVEN, "nothing to price", 0.0, time.perf_counter() - t0,
                           converged=True, detail="optimal")
    ptr, rows, vals = model.csc()
    lp = highs_lp.ColumnLp(cost=np.asarray(model.obj, dtype=np.float64),
                           col_lower=np.asarray(model.col_lb, dtype=np.float64),
                           col_upper=np.asarray(model.col_ub, dtype=np.float64),
                           row_lower=np.asarray(model.row_lb, dtype=np.float64),
                           row_upper=np.asarray(model.row_ub, dtype=np.float64),
                           start=ptr, index=rows, value=np.asarray(vals, dtype=np.float64))
    allowed = None if budget.deadline is None else budget.deadline - t0
    left = None if budget.deadline is None else budget.remaining()
    if left is not None and left <= 0:
        return BatchPrices(NONE, f"no time left to solve the LP within {allowed:.3g} s", None,
                           time.perf_counter() - t0, detail="time-limit")
    hard = None if left is None else time.perf_counter() + left + HARD_GRACE
    ans = highs_lp.solve_lp(lp, left, hard)
    seconds = time.perf_counter() - t0
    if ans.status != "optimal" or ans.row_dual is None or ans.objective is None:
        if ans.status == "limit" or (left is not None and budget.expired()):
            return BatchPrices(NONE, f"the LP was not solved within {allowed:.3g} s", None,
                               seconds, detail="time-limit")
        return BatchPrices(NONE, f"HiGHS ended the LP: {ans.status}"
                                 + (f" ({ans.detail})" if ans.detail else ""),
                           None, seconds, detail="not-solved")
    price = np.maximum(0.0, -ans.row_dual)  # a binding <= row of a minimum has a dual <= 0
    kinds, refs = model.row_kind, model.row_ref

    def priced(kind: str) -> tuple[np.ndarray, np.ndarray]:
        r = np.flatnonzero((kinds == ROW_KINDS.index(kind)) & (price > PRICE_TOL))
        return refs[r], price[r]

    pools, v = priced("stock")
    stock = _stock(p, pools, v)
    by_node = {}
    for kind in ("cap", "pkg"):
        nodes, v = priced(kind)
        by_node[kind] = _by_node(p, nodes, v)
    orders, v = priced("opkg")
    opkg = {p.order_ids[o]: float(x) for o, x in zip(orders.tolist(), v.tolist(), strict=True)}
    bound = float(ans.objective)
    log.debug("LP prices of %s: bound %.6f in %.3f s", p.name, bound, seconds)
    return BatchPrices(PROVEN, f"LP optimum {bound:,.4f} proven in {seconds:.2f} s", bound,
                       seconds, MappingProxyType(stock), MappingProxyType(by_node["cap"]),
                       MappingProxyType(by_node["pkg"]), MappingProxyType(opkg),
                       converged=True, detail="optimal")


def lagrangian_prices(instance: Instance | GapInstance,
                      time_limit: float | None = DEFAULT_TIME_LIMIT, *,
                      problem: Problem | None = None, budget: Budget | None = None,
                      params: BoundParams | None = None,
                      max_iterations: int | None = None) -> BatchPrices:
    """The prices of the best Lagrangian bound that column generation
    (:func:`router.solvers.bounds.dual.lagrangian_bound`, in a child process) finds within
    ``time_limit`` seconds (or ``budget``; compilation included), or within
    ``max_iterations`` rounds."""
    from router.solvers.bounds.dual import isolated_bound

    t0 = time.perf_counter()
    budget = _budget(time_limit, budget)
    p = compile_problem(instance) if problem is None else problem
    allowed = None if budget.deadline is None else budget.deadline - t0
    res, why = isolated_bound(p, budget, params, max_iterations=max_iterations)
    seconds = time.perf_counter() - t0
    within = "" if allowed is None else f" within {allowed:.3g} s"
    if res is None:
        return BatchPrices(NONE, f"column generation gave no answer{within}: {why}", None,
                           seconds, method=LAGRANGIAN, detail="failed")
    st = res.stats
    if res.bound == math.inf:
        return BatchPrices(NONE, "the batch has no feasible plan: nothing to price", None,
                           seconds, method=LAGRANGIAN, detail=st.stop)
    if not math.isfinite(res.bound):
        return BatchPrices(NONE, f"no time for a first round of column generation{within}",
                           None, seconds, method=LAGRANGIAN, detail=st.stop)
    pr = res.prices
    pools = np.flatnonzero(pr.pool > PRICE_TOL)
    stock = _stock(p, pools, pr.pool[pools])
    nodes = np.flatnonzero(pr.cap > PRICE_TOL)
    units = _by_node(p, nodes, pr.cap[nodes])
    nodes = np.flatnonzero(pr.pkg > PRICE_TOL)
    packages = _by_node(p, nodes, pr.pkg[nodes])
    converged = st.stop in _CONVERGED and st.exact_oracle
    rounds = f"{st.iterations:,} round" + ("" if st.iterations == 1 else "s")
    if converged:
        message = (f"Lagrangian bound {res.bound:,.4f} proven in {seconds:.2f} s (column "
                   f"generation converged, {rounds})")
    else:
        why_stop = {"deadline": "out of time", "iterations": "round limit"}.get(st.stop,
                                                                                st.stop)
        if not st.exact_oracle:
            why_stop += ", some subproblems bounded, not solved"
        message = (f"Lagrangian bound {res.bound:,.4f} proven in {seconds:.2f} s at the best "
                   f"prices met; column generation stopped before converging ({why_stop}, "
                   f"{rounds}): the bound may be weaker than the LP's and the prices not final")
    log.debug("Lagrangian prices of %s: bound %.6f in %.3f s (%s)", p.name, res.bound, seconds,
              st.stop)
    return BatchPrices(PROVEN, message, float(res.bound), seconds, MappingProxyType(stock),
                       MappingProxyType(units), MappingProxyType(packages), method=LAGRANGIAN,
                       converged=converged, detail=st.stop)


def _stock(p: Problem, pools: np.ndarray, v: np.ndarray) -> dict[tuple[str, str], float]:
    return {(p.node_ids[int(p.pool_node[q])], p.sku_ids[int(p.pool_sku[q])]): float(x)
            for q, x in zip(pools.tolist(), v.tolist(), strict=True)}


def _by_node(p: Problem, nodes: np.ndarray, v: np.ndarray) -> dict[str, float]:
    return {p.node_ids[n]: float(x) for n, x in zip(nodes.tolist(), v.tolist(), strict=True)}
