"""The coordinator: one large batch routed as shards under coordinated prices.

1. **Shards** (:mod:`router.distributed.sharding`): the orders split by region into shards;
   each goes to its worker as numpy arrays, once. The coupling rows (the stock pools and the
   nodes' package and unit limits) that orders of several shards can load are *shared*; the
   others belong to one shard.
2. **Bound at zero prices.** Every worker evaluates its orders' exact per-order subproblems
   (the oracle of the Lagrangian dual, :mod:`router.solvers.bounds.oracle`) and returns its
   part of ``L(prices)`` and its relaxed plan's load on every row. The Lagrangian function
   separates by order, so

       L(lam) = sum_shards sum_{o in shard} Z_o(lam) - lam . limits

   is the batch's Lagrangian bound, proven for any prices ``lam >= 0`` (less a rounding
   margin, rounded up where every plan costs a whole number).
3. **Price estimate.** Each shared row's limit is allotted to the shards in proportion to
   their relaxed loads (its slack in proportion to what each could load); each worker
   prices its shard within its allotment by the column-generation dual of
   :func:`~router.solvers.bounds.dual.lagrangian_bound`; the coordinator joins the prices
   (a shard's own rows: its price; a shared row: the mean of the shards' prices weighted by
   their allotments) and evaluates ``L`` there (step 2).
4. **Coordination rounds** (dual decomposition): the prices move by a projected subgradient
   step, the shards' total load less the limits (a step towards a target level above the
   best bound, the level halved when two steps in a row do not improve it); every round one
   evaluation by every worker, prices out and loads back, a few arrays of the shards' rows.
5. **Routing.** The rows are allotted again from the loads at the best prices; each worker
   routes its shard within its allotment (bidding rounds at true and at priced costs, then
   local search).
6. **Repair** (:mod:`router.distributed.repair`): the union, feasible by construction, gets
   the units the allotments left over, and local search on the whole batch with what is
   left of the budget.

The bound is the best ``L`` met. Budget: the evaluation at zero prices and the routing are
always done; the price estimate and the rounds take ``price_share`` of the time left, the
workers' routing ``route_share`` of what is left after them, the repair the rest. Under a
work limit every stage does a fixed amount of work (one unit: a column-generation round of
the estimate, a coordination round, a local-search move of the shards, which move in
parallel, or of the repair), so the same seed and work limit give the same plan on every
executor and machine.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from router.compile import Problem
from router.contract import Limit, Outcome, Params, Run, SolverStats, StageRecord, param
from router.distributed.executors import (
    Executor,
    ExecutorPool,
    active_pool,
    make_executor,
    make_pool,
)
from router.distributed.repair import repair
from router.distributed.sharding import Shard, make_shards, shard_arrays, shard_orders
from router.evaluate import objective, violations
from router.solvers.bounds.dual import integral_costs, proven_bound
from router.solvers.result import conclude

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedParams(Params):
    """Tuning of ``distributed`` (one work unit: a column-generation round of the price
    estimate, a coordination round, or a local-search move of the shards or the repair)."""

    solver = "distributed"
    workers: int = param(2, lo=1, hi=4096, doc="workers (processes, or Ray actors)")
    shards: int = param(0, lo=0, hi=1_000_000,
                        doc="shards the batch is split into (0: one per worker)")
    executor: Literal["process", "ray", "inline"] = param(
        "process", doc="process: local processes (forked); ray: Ray actors (router[ray]); "
                       "inline: in this process")
    address: str = param("", doc="Ray cluster address (empty: a local Ray instance)")
    rounds: int = param(5, lo=0, hi=100_000, doc="coordination rounds at most")
    estimate_iterations: int = param(
        8, lo=0, hi=10_000, doc="column-generation rounds of each shard's price estimate "
                                "(0: none, the rounds start from zero prices)")
    price_share: float = param(0.4, lo=0.0, hi=1.0,
                               doc="of the time left, for the price estimate and the rounds")
    estimate_share: float = param(0.85, lo=0.0, hi=1.0,
                                  doc="of the prices' time, for the estimate (the rest: rounds)")
    route_share: float = param(0.75, lo=0.0, hi=1.0,
                               doc="of the time left after the prices, for the shards' "
                                   "routing (the rest: the repair)")
    target_gap: float = param(0.005, lo=0.0, hi=1.0,
                              doc="subgradient target: this share above the best bound")
    polish: bool = param(True, doc="local search on the whole batch in the repair")
    retries: int = param(1, lo=0, hi=100, doc="a lost worker is replaced this often per call, "
                                              "then the coordinator runs the shard itself")
    default_moves: int = param(300, lo=0, doc="local-search moves of each shard (and of the "
                                              "repair) without a time or work limit")
    min_start_seconds: float = param(
        0.3, lo=0.0, doc="with less time left than this and no workers started before the "
                         "call (a pool), the run stops at once: starting workers, sharding and "
                         "one round take longer, so the pipeline's floor plan stands")


@dataclass
class _Rows:
    """The coupling rows of the batch and how the shards see them."""

    b: np.ndarray  # (R,) limits, 0 where unlimited
    finite: np.ndarray  # (R,) bool
    rows: list[np.ndarray]  # per shard: the batch row of each shard row
    caps: np.ndarray  # (R,) the most a unit of each row could save
    reach: list[np.ndarray]  # per shard: the most it could load each of its rows
    reach_all: np.ndarray  # (R,)
    shared: np.ndarray  # (R,) bool: finite rows more than one shard can load


def _limits(p: Problem) -> np.ndarray:
    return np.concatenate([p.pool_qty, p.node_max_packages, p.node_capacity]).astype(
        np.float64)


class Coordinator:
    """One decomposed run (see the module docstring)."""

    def __init__(self, p: Problem, run: Run, params: DistributedParams) -> None:
        self.p, self.run, self.params = p, run, params
        self.budget = run.budget
        self.integral = integral_costs(p)
        self.history: list[dict[str, Any]] = []
        self.stages: list[StageRecord] = []
        self.best_lb = -math.inf
        self.best_lam: np.ndarray | None = None
        self.best_use: list[np.ndarray] | None = None
        self.exact = True
        self.work = 0

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, ex: Executor, lam: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The proven bound at ``lam`` and every shard's loads (its rows)."""
        R = self.R
        out = ex.call("evaluate", [(lam[r],) for r in R.rows])
        total = sum(o[0] for o in out)
        self.exact = self.exact and all(o[3] for o in out)
        if math.isinf(total):
            return math.inf, [o[2] for o in out]
        priced = float(np.dot(lam, R.b))
        scale = sum(o[1] for o in out) + priced
        lb = proven_bound(total - priced, scale, self.integral)
        use = [np.asarray(o[2], dtype=np.float64) for o in out]
        if lb > self.best_lb:
            self.best_lb, self.best_lam, self.best_use = lb, lam.copy(), use
        return lb, use

    def total_load(self, use: list[np.ndarray]) -> np.ndarray:
        g = np.zeros(len(self.R.b))
        for r, u in zip(self.R.rows, use, strict=True):
            g[r] += u
        return g

    def allot(self, use: list[np.ndarray]) -> list[np.ndarray]:
        """Per shard, its limit on each of its rows: a shared row's limit split in
        proportion to the shards' loads (its slack in proportion to their reach), floored;
        every other row whole."""
        R = self.R
        load = self.total_load(use)
        out = []
        for r, u, reach in zip(R.rows, use, R.reach, strict=True):
            b = R.b[r]
            L = load[r]
            slack = np.maximum(b - L, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                over = np.where(L > 0, b * u / np.where(L > 0, L, 1.0), 0.0)
                under = u + slack * np.where(R.reach_all[r] > 0,
                                             reach / np.where(R.reach_all[r] > 0,
                                                              R.reach_all[r], 1.0), 0.0)
            share = np.floor(np.where(b < L, over, under) + 1e-9)
            out.append(np.where(R.shared[r], np.minimum(share, b), self.full[r]))
        return out

    def join(self, prices: list[np.ndarray], limits: list[np.ndarray]) -> np.ndarray:
        """Shard prices joined: on a shared row the mean weighted by the allotments."""
        R = self.R
        num = np.zeros(len(R.b))
        den = np.zeros(len(R.b))
        for r, lam, lim, reach in zip(R.rows, prices, limits, R.reach, strict=True):
            w = np.where(reach > 0, np.where(np.isfinite(lim), lim, 0.0) + 1e-9, 0.0)
            num[r] += w * lam
            den[r] += w
        lam = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return np.clip(np.where(R.finite, lam, 0.0), 0.0, R.caps)

    # -- the run ----------------------------------------------------------------------------

    def stage(self, name: str, t: float, work: int = 0, note: str = "") -> None:
        self.stages.append(StageRecord(name, time.perf_counter() - t, work, None,
                                       self.best_lb if math.isfinite(self.best_lb) else None,
                                       note))

    def solve(self) -> Outcome:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        p, run, params, budget = self.p, self.run, self.params, self.budget
        timed = budget.timed
        work = budget.work
        unlimited = not budget.limited
        # fixed amounts of work under a work limit (or none at all)
        est_it: int | None = params.estimate_iterations
        rounds = params.rounds
        moves: int | None = None
        polish_moves: int | None = None
        if work is not None:
            est_it = min(params.estimate_iterations, work)
            rounds = min(params.rounds, work - est_it)
            rest = work - est_it - rounds
            moves = int(params.route_share * rest)
            polish_moves = rest - moves
        elif unlimited:
            moves = polish_moves = params.default_moves

        t = time.perf_counter()
        n_shards = params.shards or params.workers
        sharding = shard_orders(p, n_shards)
        shards = make_shards(p, sharding)
        arrays = [shard_arrays(s) for s in shards]
        n_pools = len(p.pool_qty)
        full = self.full = _limits(p)
        finite = np.isfinite(full)
        rows = [s.rows(n_pools) for s in shards]
        self.stage("shard", t, note=f"{len(shards)} shards, {sharding.hubs} hubs, "
                                    f"locality {sharding.locality:.3f}")
        extra: dict[str, Any] = {
            "executor": params.executor, "workers": min(params.workers, len(shards)),
            "shards": len(shards), "hubs": sharding.hubs,
            "locality": round(sharding.locality, 4),
            "shard_orders": [int(s.problem.n_orders) for s in shards],
            "shard_line_arcs": [int(s.problem.n_line_arcs) for s in shards]}

        t = time.perf_counter()
        pool = _fitting_pool(params)
        if pool is not None:  # workers started before this batch, kept after it
            ex = pool.executor(arrays, params.retries)
        else:
            ex = make_executor(params.executor, arrays, params.workers, params.retries,
                               params.address)
        extra["pooled"] = pool is not None
        x: np.ndarray | None = None
        try:
            ex.start()
            ex.stats.start_seconds = time.perf_counter() - t
            out = ex.call("setup", [() for _ in shards])
            caps = np.zeros(len(full))
            reach_all = np.zeros(len(full))
            count = np.zeros(len(full), dtype=np.int64)
            for r, o in zip(rows, out, strict=True):
                caps[r] = np.maximum(caps[r], o[0])
                reach_all[r] += o[1]
                count[r] += o[1] > 0
            self.R = _Rows(np.where(finite, full, 0.0), finite, rows,
                           np.where(finite, caps, 0.0), [np.asarray(o[1]) for o in out],
                           reach_all, finite & (count >= 2))
            extra["shared_rows"] = int(self.R.shared.sum())
            extra["rows"] = int(finite.sum())
            self.stage("start", t, note=f"{ex.name}: {ex.workers} workers")

            t = time.perf_counter()
            lam0 = np.zeros(len(full))
            lb0, use0 = self.evaluate(ex, lam0)
            self.history.append({"step": "zero prices", "bound": lb0,
                                 "seconds": time.perf_counter() - t})
            self.stage("zero prices", t)
            if lb0 == math.inf:
                return conclude("distributed", p, run, None, infeasible=True, stats=SolverStats(
                    solve_seconds=time.perf_counter() - t0, stages=tuple(self.stages),
                    notes=("a line that must be filled has no feasible source",)))

            price_end = None if not timed else time.perf_counter() + \
                params.price_share * budget.remaining()

            def price_left() -> float:
                if budget.cancelled():
                    return 0.0
                return math.inf if price_end is None else price_end - time.perf_counter()

            # price estimate: each shard alone within its allotment
            if est_it and price_left() > 0:
                t = time.perf_counter()
                limits = self.allot(use0)
                secs = None if price_end is None else params.estimate_share * price_left()
                out = ex.call("estimate", [(lim, secs, est_it) for lim in limits])
                lam = self.join([o[0] for o in out], limits)
                t_eval = time.perf_counter()
                lb, _ = self.evaluate(ex, lam)
                self.work += est_it
                self.history.append({"step": "estimate", "bound": lb,
                                     "shard_iterations": [o[1]["iterations"] for o in out],
                                     "seconds": time.perf_counter() - t,
                                     "evaluate_seconds": time.perf_counter() - t_eval})
                self.stage("estimate", t, est_it)
            # coordination rounds
            t = time.perf_counter()
            lam = self.best_lam if self.best_lam is not None else lam0
            use = self.best_use if self.best_use is not None else use0
            cur = self.best_lb
            theta, fails, done = 1.0, 0, 0
            last = 0.0
            for _ in range(rounds):
                if price_left() <= 1.2 * last:
                    break
                tr = time.perf_counter()
                g = self.total_load(use) - self.R.b
                g[~finite] = 0.0
                g[(lam <= 0) & (g < 0)] = 0.0
                norm = float(np.dot(g, g))
                if norm <= 0:  # the relaxed plans keep every limit: nothing to coordinate
                    break
                level = self.best_lb + params.target_gap * max(1.0, abs(self.best_lb))
                step = theta * max(level - cur, 1e-9 * max(1.0, abs(level))) / norm
                lam = np.clip(lam + step * g, 0.0, self.R.caps)
                before = self.best_lb
                cur, use = self.evaluate(ex, lam)
                done += 1
                self.history.append({"step": f"round {done}", "bound": cur,
                                     "seconds": time.perf_counter() - tr})
                if self.best_lb > before:
                    fails = 0
                else:
                    fails += 1
                    if fails >= 2:
                        theta, fails = theta / 2, 0
                        assert self.best_lam is not None and self.best_use is not None
                        lam, use, cur = self.best_lam, self.best_use, self.best_lb
                last = time.perf_counter() - tr
            self.work += done
            extra["rounds"] = done
            self.stage("rounds", t, done)

            # routing within the allotments at the best prices
            t = time.perf_counter()
            assert self.best_lam is not None and self.best_use is not None
            limits = self.allot(self.best_use)
            route_secs = None
            if timed:
                route_secs = max(0.0, params.route_share * budget.remaining())
            out = ex.call("route", [(self.best_lam[r], lim, route_secs, moves, run.seed + s)
                                    for s, (r, lim) in enumerate(zip(rows, limits,
                                                                     strict=True))])
            x = np.zeros(p.n_line_arcs, dtype=np.int64)
            for s, o in zip(shards, out, strict=True):
                x[s.line_arcs] = o[0]
            shard_moves = max((int(o[1]["moves"]) for o in out), default=0)
            self.work += shard_moves
            extra["shard_objectives"] = [round(float(o[1]["objective"]), 4) for o in out]
            extra["shard_moves"] = [int(o[1]["moves"]) for o in out]
            extra["route_wall_seconds"] = [round(float(o[1]["seconds"]), 4) for o in out]
            self.stage("route", t, shard_moves)
        finally:
            ex.close()

        # repair: the union made whole, then local search on the batch
        t = time.perf_counter()
        union_cost = objective(p, x)
        x, info = repair(p, x, budget, run.seed, polish=params.polish,
                         polish_moves=polish_moves)
        self.work += int(info.get("moves", 0))
        extra["union_objective"] = round(union_cost, 4)
        extra["repair"] = info
        self.stage("repair", t, int(info.get("moves", 0)))
        source = "distributed"
        if run.initial is not None and not violations(p, run.initial) and \
                objective(p, run.initial) < objective(p, x) - 1e-9:
            x, source = np.asarray(run.initial), "initial"

        es = ex.stats
        extra.update({
            "bound_history": self.history, "exact_oracle": self.exact,
            "executor_start_seconds": round(es.start_seconds, 4),
            "setup_bytes": es.setup_bytes,
            "calls": es.calls, "failures": es.failures, "retries": es.retries,
            "inline_calls": es.inline,
            "worker_cpu_seconds": [round(c, 4) for c in es.worker_cpu],
            "coordinator_cpu_seconds": round(time.process_time() - cpu0, 4)})
        limit = Limit.NONE
        if budget.cancelled():
            limit = Limit.INTERRUPTED
        elif timed and budget.expired():
            limit = Limit.TIME
        elif work is not None:
            limit = Limit.WORK
        stats = SolverStats(solve_seconds=time.perf_counter() - t0, work=self.work,
                            iterations=int(extra.get("rounds", 0)), stages=tuple(self.stages),
                            extra=extra)
        bound = self.best_lb if math.isfinite(self.best_lb) else None
        return conclude("distributed", p, run, x, bound=bound, source=source, limit=limit,
                        stats=stats)


def open_pool(params: DistributedParams) -> ExecutorPool:
    """The workers of ``params`` (executor, workers, address, retries) as a pool to keep
    across batches: ``with open_pool(params):`` every ``distributed`` call of this thread with
    the same executor, workers and address runs on them (not started per call)."""
    return make_pool(params.executor, params.workers, params.retries, params.address)


def _fitting_pool(params: DistributedParams) -> ExecutorPool | None:
    """The pool of workers opened before this call (:func:`open_pool`) if it fits these
    parameters (executor, workers, address), else ``None``."""
    pool = active_pool()
    return pool if pool is not None and pool.fits(params.executor, params.workers,
                                                  params.address) else None


def decompose(problem: Problem, run: Run) -> Outcome:
    """The ``distributed`` solver (see the module docstring). Batches whose lines must all
    be filled (GAP files) and empty batches are routed by ``auto``."""
    params = run.params if isinstance(run.params, DistributedParams) else DistributedParams()
    if problem.must_fill or problem.n_orders == 0:
        from router.solvers.portfolio.auto import AutoParams, solve_auto

        out = solve_auto(problem, run.but(params=AutoParams()))
        note = "routed by auto: the decomposition is for routing batches with unfilled " \
               "penalties"
        return out.but(solver="distributed",
                       stats=out.stats.but(notes=(*out.stats.notes, note)))
    budget = run.budget
    if (budget.timed and budget.remaining() < params.min_start_seconds
            and _fitting_pool(params) is None):
        note = (f"{budget.remaining():.3f} s left, below min_start_seconds "
                f"{params.min_start_seconds:g}: no workers started")
        return conclude("distributed", problem, run, None, limit=Limit.TIME, detail=note,
                        stats=SolverStats(notes=(note,)))
    return Coordinator(problem, run, params).solve()


__all__ = ["Coordinator", "DistributedParams", "Shard", "decompose", "open_pool"]
