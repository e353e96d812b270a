"""The shard worker: everything a worker does for one shard, given numpy arrays in and out.

A :class:`ShardWorker` holds one shard's compiled problem (:mod:`router.distributed.sharding`)
and its Lagrangian oracle (:class:`~router.solvers.bounds.oracle.LagrangianOracle`, built once).
Prices and limits arrive as arrays over the shard's coupling rows (its pools, then every
node's packages and units); what goes back is arrays too:

- :meth:`setup`: per row, the most one unit of it could save (the price caps) and the most
  the shard could load it (its reach: which rows the shard shares with others);
- :meth:`evaluate`: at the coordinator's prices, the shard's part of the Lagrangian function
  (the sum of its orders' least priced costs, exact per order) with its rounding magnitude,
  and its relaxed plan's load on every row;
- :meth:`estimate`: prices from the shard alone: the column-generation dual of
  :func:`~router.solvers.bounds.dual.lagrangian_bound` on the shard with the limits the
  coordinator allotted to it (a starting point for the coordinated prices, never a bound);
- :meth:`route`: a plan of the shard within the limits allotted to it: bidding rounds by
  true and by priced costs (the better kept), then local search.

Each call reports the CPU seconds it used (the worker's process time).

A worker may be killed at any time; the coordinator retries the call (or runs it itself).
``ROUTER_DISTRIBUTED_KILL=method:shard:marker`` makes a worker process kill itself (SIGKILL)
on entering ``method`` for ``shard`` once (while the file ``marker`` does not exist): the
fault-injection point of the tests.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import Budget
from router.distributed.sharding import problem_from_arrays
from router.evaluate import objective
from router.solvers.bounds.dual import BoundParams, lagrangian_bound
from router.solvers.bounds.oracle import LagrangianOracle, priced_costs, rounding_scale
from router.solvers.heuristics import local_search
from router.solvers.heuristics.core import (
    Prices,
    State,
    big_penalty,
    insert_orders,
    tiebreak_keys,
    true_prices,
)

KILL_ENV = "ROUTER_DISTRIBUTED_KILL"


def _maybe_die(method: str, shard: int) -> None:
    spec = os.environ.get(KILL_ENV, "")
    if not spec:
        return
    m, _, rest = spec.partition(":")
    s, _, marker = rest.partition(":")
    if m != method or s != str(shard) or not marker or os.path.exists(marker):
        return
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


class ShardWorker:
    """One shard's problem and oracle (see the module docstring). ``remote``: the worker runs
    in a process of its own (only there may the fault-injection point fire)."""

    def __init__(self, arrays: dict[str, np.ndarray], remote: bool = True) -> None:
        self.index = int(arrays["_meta"][0])
        self.p: Problem = problem_from_arrays(arrays)
        self.remote = remote
        self._oracle: LagrangianOracle | None = None
        p = self.p
        self.n_pool, self.n_node = len(p.pool_qty), p.n_nodes
        self.e_node = p.e_node

    def _enter(self, method: str) -> float:
        if self.remote:
            _maybe_die(method, self.index)
        return time.process_time()

    @property
    def oracle(self) -> LagrangianOracle:
        if self._oracle is None:
            self._oracle = LagrangianOracle(self.p)
        return self._oracle

    # ------------------------------------------------------------------------------------

    def setup(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(price caps (R_s,), reach (R_s,), CPU seconds)."""
        t = self._enter("setup")
        p, orc = self.p, self.oracle
        n_p, n = self.n_pool, self.n_node
        pen = np.where(orc.must, np.inf, orc.pen_fin)[p.e_line]
        gain = np.maximum(pen - p.e_unit_cost, 0.0)
        caps = np.zeros(n_p + 2 * n)
        _group_max(caps[:n_p], p.e_pool, gain)
        per_use = np.where(p.e_use > 0, gain / np.where(p.e_use > 0, p.e_use, 1.0), 0.0)
        _group_max(caps[n_p + n:], self.e_node, per_use)
        fin = np.where(np.isinf(gain), 0.0, gain * orc.tf)
        arc_gain = np.bincount(p.e_arc, weights=fin, minlength=p.n_arcs)
        arc_inf = np.bincount(p.e_arc, weights=np.isinf(gain).astype(np.float64),
                              minlength=p.n_arcs) > 0
        arc_gain = np.where(arc_inf, np.inf, arc_gain - p.arc_cost)
        _group_max(caps[n_p:n_p + n], p.arc_node, np.maximum(arc_gain, 0.0))
        reach = np.concatenate([
            np.bincount(p.e_pool, weights=orc.tf, minlength=n_p),
            np.bincount(p.arc_node, weights=orc.arc_ok.astype(np.float64), minlength=n),
            np.bincount(self.e_node, weights=orc.tf * p.e_use, minlength=n)])
        return caps, reach, time.process_time() - t

    def priced(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit rates (E,) and package costs (A,) at prices ``lam`` over the shard's rows."""
        return priced_costs(self.p, lam)

    def usage(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = self.p
        return np.concatenate([
            np.bincount(p.e_pool, weights=x, minlength=self.n_pool),
            np.bincount(p.arc_node, weights=y, minlength=self.n_node),
            np.bincount(self.e_node, weights=x * p.e_use, minlength=self.n_node)])

    def evaluate(self, lam: np.ndarray) -> tuple[float, float, np.ndarray, bool, float]:
        """(sum of the orders' least priced costs, its rounding magnitude, the relaxed plan's
        row loads (R_s,), every order solved exactly, CPU seconds)."""
        t = self._enter("evaluate")
        lam = np.asarray(lam, dtype=np.float64)
        rate, fixed = self.priced(lam)
        ans = self.oracle.solve(rate, fixed)
        total = float(ans.value.sum())
        scale = rounding_scale(self.oracle, rate, fixed) + float(
            np.abs(ans.value[np.isfinite(ans.value)]).sum())
        return total, scale, self.usage(ans.x, ans.y), bool(ans.exact), \
            time.process_time() - t

    def _limited(self, limits: np.ndarray) -> Problem:
        """The shard's problem with the limits allotted to it (pools, packages, units)."""
        n_p, n = self.n_pool, self.n_node
        return dataclasses.replace(
            self.p, pool_qty=np.asarray(limits[:n_p], dtype=np.float64),
            node_max_packages=np.asarray(limits[n_p:n_p + n], dtype=np.float64),
            node_capacity=np.asarray(limits[n_p + n:], dtype=np.float64))

    def estimate(self, limits: np.ndarray, seconds: float | None, iterations: int | None
                 ) -> tuple[np.ndarray, dict[str, Any], float]:
        """(prices (R_s,) of the shard's column-generation dual within ``limits``, its
        figures, CPU seconds)."""
        t = self._enter("estimate")
        q = self._limited(limits)
        deadline = None if seconds is None else Budget.start(seconds)
        res = lagrangian_bound(q, deadline, BoundParams(), max_iterations=iterations)
        lam = res.prices.vector()
        info = {"iterations": res.stats.iterations, "stop": res.stats.stop,
                "bound": res.bound if math.isfinite(res.bound) else None}
        return lam, info, time.process_time() - t

    def route(self, lam: np.ndarray, limits: np.ndarray, seconds: float | None,
              moves: int | None, seed: int) -> tuple[np.ndarray, dict[str, Any], float]:
        """(units per line-arc of the shard (E_s,), figures, CPU seconds): a plan within the
        allotted ``limits``; at most ``seconds`` and ``moves`` local-search moves."""
        t = self._enter("route")
        t_wall = time.perf_counter()
        q = self._limited(limits)
        budget = Budget.start(seconds, moves)
        tb = tiebreak_keys(q, seed)
        best_x: np.ndarray | None = None
        best = math.inf
        tried: dict[str, float] = {}
        lam = np.asarray(lam, dtype=np.float64)
        for name, pr in (("true", true_prices(q)), ("priced", self._prices(q, lam))):
            if best_x is not None and budget.expired():
                break
            st = State(q)
            insert_orders(q, st, np.arange(q.n_orders), pr, priority="regret", tiebreak=tb,
                          deadline=budget)
            c = objective(q, st.x)
            tried[name] = c
            if c < best - 1e-9:
                best_x, best = st.x, c
        assert best_x is not None
        x, ls = best_x, {"moves": 0}
        if moves is None or moves > 0:
            x, ls = local_search.improve(q, best_x, budget, seed)
        info = {"greedy": tried, "moves": int(ls.get("moves", 0)),
                "objective": objective(q, x), "seconds": time.perf_counter() - t_wall}
        return np.asarray(x, dtype=np.int64), info, time.process_time() - t

    def _prices(self, q: Problem, lam: np.ndarray) -> Prices:
        rate, fixed = self.priced(lam)
        pen = np.where(np.isinf(q.line_penalty), big_penalty(q), q.line_penalty)
        return Prices(rate, fixed, pen)

    def cpu(self) -> float:
        return time.process_time()


def _group_max(out: np.ndarray, group: np.ndarray, values: np.ndarray) -> None:
    """``out[g] = max(out[g], values)`` over each group (in place; ``out`` starts at 0)."""
    if len(group):
        np.maximum.at(out, group, np.where(np.isnan(values), 0.0, values))
