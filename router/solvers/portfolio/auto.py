"""``auto``, the default solver: the best plan the project can find within the time limit, and
a proven bound on how far it can be from the optimum.

Stages, each within what is left of the budget:

1. ``greedy`` (compiled bidding rounds, milliseconds): the first plan, always feasible; on an
   assignment batch (GAP) its repair completes it. The caller's ``initial`` plan competes.
2. ``bound``: the Lagrangian dual by column generation
   (:func:`router.solvers.bounds.dual.lagrangian_bound`, in a child process killed at its
   deadline), at least as strong as the LP relaxation once converged. Its share of the time
   left scales with the batch: ``bound_seconds_per_line_arc`` per line-arc, between
   ``bound_share_min`` and ``lagrangian_share_routing`` (assignment batches:
   ``lagrangian_share``); it stops by itself once converged. Where the relaxation's own plan
   is feasible it is optimal and the run ends.
3. ``rounded``: the master's LP solution rounded, the orders it leaves fractional (and any
   that overload a row) routed again by the bidding rounds
   (:func:`router.solvers.bounds.primal.rounded_plan`; milliseconds).
   On assignment batches (GAP) with whole resources, ``knapsack``: the knapsack Lagrangian
   (:mod:`router.solvers.bounds.knapsack`: one 0-1 knapsack per node, solved exactly) climbed
   from the dual's prices for up to ``knapsack_share`` of the time left: a bound at least
   the LP's, often above it on tight batches (its plan competes where it fits).
4. ``price-and-branch``: the restricted master as an integer program over the plans column
   generation met, starting from the incumbent (HiGHS in a child process killed at the
   deadline, :func:`router.solvers.bounds.primal.master_plan`), for up to ``ip_share`` of
   the time left. One program over every order of the master where it fits the time
   (``ip_seconds_per_column``, learnt from each program solved); else programs over
   neighbourhoods of priced rows (the fractional orders first), while they improve.
5. On batches small enough for the time left (line-arcs <= ``mip_line_arcs_per_second`` x
   seconds left, at most ``mip_line_arcs_max``; always up to ``mip_line_arcs_tiny``), an
   exact MIP backend (the first available of ``mip_backends``) warm-started from the
   incumbent, for ``mip_share`` of what is left: on small batches it proves the optimum.
6. Local search (:mod:`router.solvers.heuristics.local_search`) on the best plan, under true
   costs, until the deadline.

Every candidate plan is checked (:func:`router.evaluate.violations`) before it can become the
incumbent. The answer is the best plan and the best proven bound (the larger of the
Lagrangian and MIP bounds); the status is ``optimal`` when the plan is within the relative
gap asked for (``mip_gap``) of the bound, and ``auto`` stops there.

Work budgets make a run repeatable exactly: one work unit is a round of column generation,
an evaluation of the knapsack Lagrangian, a branch-and-bound node (restricted master or MIP)
or a local-search move. The stages take shares of the work as they take shares of the time
(``lagrangian_share_routing``, ``knapsack_share``, ``ip_share``, ``mip_share``; local search
the rest); without a time limit the restricted
master is one program of at most ``ip_max_columns_untimed`` plans. Without any limit the
effort is ``default_work`` units (the MIP only on batches of at most
``mip_line_arcs_untimed`` line-arcs). Under a time limit every stage also stops with the
clock, so the plan then depends on where the clock stopped it as well as on the seed. Every
tuning figure is a field of :class:`AutoParams`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import (
    Budget,
    Limit,
    Outcome,
    Params,
    Run,
    SolverStats,
    StageRecord,
    param,
    within_gap,
)
from router.errors import SolverUnavailable
from router.evaluate import objective, violations
from router.solvers.bounds import knapsack
from router.solvers.bounds.dual import (
    BoundResult,
    bound_stats_dict,
    integral_costs,
    isolated_bound,
)
from router.solvers.bounds.primal import (
    Rows,
    best_plans,
    master_plan,
    neighbourhood,
    rounded_plan,
)
from router.solvers.heuristics import assign, local_search
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
    feasible,
    insert_orders,
    tiebreak_keys,
    true_prices,
)
from router.solvers.heuristics.regret import regret_solution
from router.solvers.registry import get, register
from router.solvers.result import conclude

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoParams(Params):
    """Tuning of ``auto`` (one work unit = a round of column generation, a branch-and-bound
    node or a local-search move)."""

    solver = "auto"
    mip_backends: tuple[str, ...] = param(
        ("ortools-highs", "pulp-highs", "ortools-cpsat", "ortools-scip", "pulp-cbc"),
        doc="MIP backends to try, the first available is used")
    mip_line_arcs_per_second: float = param(5_000, lo=0.0,
                                            doc="a MIP is tried on batches up to this many "
                                                "line-arcs per second left")
    mip_line_arcs_max: int = param(30_000, lo=0,
                                   doc="beyond this the model build alone can outrun a budget")
    mip_line_arcs_tiny: int = param(
        3_000, lo=0, doc="models this small are often proven optimal in a tenth of a second: "
                         "always worth trying")
    mip_line_arcs_untimed: int = param(5_000, lo=0,
                                       doc="without a time limit, the MIP only up to this size")
    mip_untimed_seconds: float = param(10.0, lo=0.0,
                                       doc="without a time limit, the MIP's time limit")
    mip_share: float = param(0.5, lo=0.0, hi=1.0, doc="of the time left, for the MIP")
    mip_share_tiny: float = param(0.8, lo=0.0, hi=1.0,
                                  doc="tiny models: the MIP is the stage most likely to prove")
    bound_seconds_per_line_arc: float = param(
        4e-5, lo=0.0, doc="the bound's share of the time left: this per line-arc (column "
                          "generation converges in about 8 us per line-arc on one core)")
    bound_share_min: float = param(0.3, lo=0.0, hi=1.0,
                                   doc="the bound gets at least this share of the time left")
    lagrangian_share: float = param(0.5, lo=0.0, hi=1.0,
                                    doc="assignment batches (GAP): the most of the time left "
                                        "(and of the work) the bound may take")
    lagrangian_share_routing: float = param(
        0.85, lo=0.0, hi=1.0, doc="routing batches: the most of the time left (and of the "
                                  "work) the bound may take")
    bound_rounds_untimed: int = param(60, lo=0,
                                      doc="without a time limit, rounds of column generation "
                                          "at most")
    ip_share: float = param(0.7, lo=0.0, hi=1.0,
                            doc="of the time (and work) left after rounding, for the "
                                "restricted master's integer programs")
    ip_seconds_per_column: float = param(
        3e-4, lo=0.0, doc="first estimate of a restricted program's time per plan (then "
                          "learnt from the programs solved)")
    ip_min_columns: int = param(200, lo=1, doc="no program with room for fewer plans")
    ip_max_columns_untimed: int = param(20_000, lo=1,
                                        doc="without a time limit, plans in the one program")
    ip_rounds: int = param(12, lo=0, doc="restricted programs at most")
    ip_stall: int = param(2, lo=1, doc="programs in a row without improvement before the "
                                       "stage ends")
    ip_rows: int = param(60, lo=1, doc="priced rows drawn for a neighbourhood")
    min_stage_seconds: float = param(0.05, lo=0.0,
                                     doc="an exact stage is not started with less time left")
    default_work: int = param(800, lo=0, doc="work units when nothing limits the budget")
    knapsack_share: float = param(0.05, lo=0.0, hi=1.0,
                                  doc="assignment batches: of the time (and work) left after "
                                      "the bound, for the knapsack Lagrangian (it stops "
                                      "earlier once converged)")


class Incumbent:
    """The best verified plan so far and the best proven bound; ``gap``: the relative gap
    within which the plan counts as proven optimal (``Run.mip_gap``)."""

    def __init__(self, p: Problem, gap: float = 0.0) -> None:
        self.p = p
        self.gap = max(0.0, gap)
        self.x: np.ndarray | None = None
        self.obj = math.inf
        self.lb = -math.inf
        self.source = ""
        self.history: list[tuple[str, float, float]] = []
        self.t0 = time.perf_counter()

    def offer(self, x: np.ndarray | None, source: str) -> bool:
        if x is None:
            return False
        x = np.asarray(x, dtype=np.int64)
        if not feasible(self.p, x):
            bad = violations(self.p, x)
            if bad:
                log.warning("auto: %s plan rejected: %s", source, "; ".join(bad))
                return False
        c = objective(self.p, x)
        if not math.isfinite(c) or c >= self.obj - 1e-9:
            return False
        self.x, self.obj, self.source = x, c, source
        self.history.append((source, round(time.perf_counter() - self.t0, 4), c))
        return True

    def bound(self, lb: float | None) -> None:
        if lb is not None and math.isfinite(lb) and lb > self.lb:
            self.lb = lb

    def proven(self) -> bool:
        return self.x is not None and within_gap(self.obj, self.lb, self.gap)


def _first_plan(p: Problem, seed: int, budget: Budget) -> np.ndarray | None:
    st = State(p)
    insert_orders(p, st, np.arange(p.n_orders), true_prices(p), priority="regret",
                  tiebreak=tiebreak_keys(p, seed), deadline=budget)
    rng = np.random.default_rng(seed)
    # a must-fill repair is small (assignment batches) and is run even past the deadline,
    # so that a plan exists whenever one can be found
    return complete_must_fill(p, st.x, rng,
                              budget if not budget.expired() else Budget.start(0.5))


def _mip_backend(params: AutoParams) -> str | None:
    for name in params.mip_backends:
        try:
            get(name)
        except SolverUnavailable:
            continue
        return name
    return None


def bound_share(p: Problem, params: AutoParams, left: float) -> float:
    """The bound's share of ``left`` seconds: ``bound_seconds_per_line_arc`` per line-arc,
    within [``bound_share_min``, the cap of the batch's kind]."""
    cap = params.lagrangian_share if assign.is_assignment(p) else \
        params.lagrangian_share_routing
    if not math.isfinite(left) or left <= 0:
        return cap
    want = params.bound_seconds_per_line_arc * p.n_line_arcs / left
    return float(min(cap, max(params.bound_share_min, want)))


class _Work:
    """Work units spent, and what is left of a work budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.used = 0

    def rest(self) -> Budget:
        b = self.budget
        return b if b.work is None else b.with_work(max(0, b.work - self.used))


def dual_stage(p: Problem, run: Run, budget: Budget, inc: Incumbent, frac: float,
               rounds: int | None, work: _Work, stage: Any, extra: dict[str, Any]
               ) -> BoundResult | None:
    """The bound by column generation within ``frac`` of ``budget``, then its rounded plan."""
    t = time.perf_counter()
    share = budget.share(frac) if budget.timed else budget
    limit = rounds if share.work is None else (share.work if rounds is None
                                               else min(rounds, share.work))
    res, why = isolated_bound(p, share, max_iterations=limit)
    if res is None:
        stage("bound", t, 0, why)
        return None
    work.used += res.stats.iterations
    extra["bound"] = {k: v for k, v in bound_stats_dict(res.stats).items() if k != "history"}
    if res.bound == math.inf:
        stage("bound", t, res.stats.iterations, "infeasible")
        return res
    inc.bound(res.bound)
    if res.x is not None:
        inc.offer(res.x, "bound")
    stage("bound", t, res.stats.iterations, f"{res.stats.stop}, {res.stats.iterations} rounds")
    if res.pool is not None and not inc.proven():
        t = time.perf_counter()
        x, info = rounded_plan(p, res.pool, run.seed, budget)
        inc.offer(x, "rounded")
        extra["rounded"] = info
        stage("rounded", t, 0, f"{info['rerouted']} orders routed again")
    return res


def knapsack_stage(p: Problem, params: AutoParams, inc: Incumbent, res: BoundResult,
                   work: _Work, stage: Any, extra: dict[str, Any]) -> None:
    """Assignment batches with whole resources: the knapsack Lagrangian from the dual's
    prices, within ``knapsack_share`` of what is left (time and work): its bound, and its
    plan where it fits."""
    M = assign.Matrices(p)
    if not knapsack.integral(M) or inc.x is None:
        return
    t = time.perf_counter()
    share = work.rest().share(params.knapsack_share)
    u0 = knapsack.lp_order_prices(M, res.prices.cap)
    kr = knapsack.knapsack_bound(M, u0, inc.obj, share, integral_costs(p))
    work.used += kr.iterations
    inc.bound(kr.bound)
    extra["knapsack"] = {"bound": kr.bound, "iterations": kr.iterations, "stop": kr.stop}
    stage("knapsack", t, kr.iterations, f"{kr.stop}, {kr.iterations} evaluations")
    start = kr.start
    if start is not None and (start >= 0).all() and bool(np.all(M.load(start) <= M.cap + 1e-9)):
        inc.offer(M.to_x(p, start), "knapsack")


def ip_stage(p: Problem, run: Run, params: AutoParams, budget: Budget, inc: Incumbent,
             res: BoundResult, work: _Work, stage: Any, extra: dict[str, Any]) -> None:
    """Restricted master programs (price-and-branch) from the incumbent (module docstring)."""
    pool = res.pool
    if pool is None or inc.x is None:
        return
    rows = Rows(p)
    rng = np.random.default_rng(run.seed)
    prices = res.prices.vector()
    _, wmax = best_plans(pool, p.n_orders)
    fractional = np.flatnonzero(pool.in_master & (wmax < 1.0 - 1e-6))
    timed = budget.timed
    start = time.perf_counter()
    until = budget.share(params.ip_share) if timed else budget
    w_left = work.rest().work
    w_share = None if w_left is None else int(params.ip_share * w_left)
    per_col = params.ip_seconds_per_column
    stall = rounds = 0
    log_rounds: list[dict[str, Any]] = []
    while rounds < (params.ip_rounds if timed else 1) and not inc.proven():
        left = until.remaining()
        if timed and left < params.min_stage_seconds:
            break
        if w_share is not None and w_share <= 0:
            break
        cap = params.ip_max_columns_untimed if not math.isfinite(left) else \
            int(0.8 * left / max(per_col, 1e-9))
        if cap < params.ip_min_columns:
            break
        seeds = fractional if rounds == 0 and len(fractional) else None
        orders = neighbourhood(pool, prices, rows, cap, rng, seeds, params.ip_rows)
        whole = len(orders) == int(pool.in_master.sum())
        b = until if w_share is None else until.with_work(w_share)
        x, ans = master_plan(p, pool, inc.x, b, orders=orders, mip_gap=run.mip_gap,
                             rows=rows)
        rounds += 1
        work.used += ans.nodes
        if w_share is not None:
            w_share -= max(1, ans.nodes)
        cols = int(ans.extra.get("columns", 0))
        if ans.status == "optimal" and cols >= 100:
            per_col = max(per_col * 0.5, min(per_col * 2.0, ans.seconds / cols))
        better = inc.offer(x, "price-and-branch")
        log_rounds.append({"orders": int(len(orders)), "columns": cols, "status": ans.status,
                           "seconds": round(ans.seconds, 3), "improved": better})
        stall = 0 if better else stall + 1
        if (whole and ans.status == "optimal") or stall >= params.ip_stall:
            break
    if rounds:
        extra["price_and_branch"] = log_rounds
        stage("price-and-branch", start, sum(1 for _ in log_rounds),
              f"{rounds} programs, {sum(r['improved'] for r in log_rounds)} improved")


@register("auto", "the best plan found within the budget: greedy, the Lagrangian dual by "
                  "column generation (a proven bound; on assignment batches also the knapsack "
                  "Lagrangian), its rounded plan and price-and-branch over its columns, MIP "
                  "on small batches, local search (default)",
          "portfolio", params=AutoParams,
          work_unit="a round of column generation, an evaluation of the knapsack Lagrangian "
                    "(assignment batches), a branch-and-bound node or a local-search move")
def solve_auto(problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    p = problem
    params = run.params if isinstance(run.params, AutoParams) else AutoParams()
    budget = run.budget
    if not budget.limited:
        budget = budget.with_work(params.default_work)
    timed = budget.timed
    inc = Incumbent(p, run.mip_gap)
    tiny = p.n_line_arcs <= params.mip_line_arcs_tiny
    stages: list[StageRecord] = []
    extra: dict[str, Any] = {}
    notes: list[str] = []
    work = _Work(budget)
    limit = Limit.NONE

    def stage(name: str, t: float, units: int = 0, note: str = "") -> None:
        stages.append(StageRecord(name, time.perf_counter() - t, units,
                                  inc.obj if inc.x is not None else None,
                                  inc.lb if math.isfinite(inc.lb) else None, note))

    # 1. a plan within milliseconds (and the caller's own, if it is better)
    t = time.perf_counter()
    inc.offer(_first_plan(p, run.seed, budget), "greedy")
    if run.initial is not None:
        inc.offer(run.initial, "initial")
    stage("greedy", t)
    if inc.x is None and p.must_fill and not budget.expired():
        t = time.perf_counter()
        x, _ = regret_solution(p, run.seed, budget)
        inc.offer(x, "regret")
        stage("regret", t)

    # 2-3. the bound by column generation, and its rounded plan
    res = None
    if not budget.expired() and p.n_orders and p.n_line_arcs and not inc.proven():
        frac = bound_share(p, params, budget.remaining())
        rounds = None if timed else params.bound_rounds_untimed
        if budget.work is not None:
            share_w = int(frac * budget.work)
            rounds = share_w if rounds is None else min(rounds, share_w)
        res = dual_stage(p, run, budget, inc, frac, rounds, work, stage, extra)
        if res is not None and res.bound == math.inf:
            return conclude("auto", p, run, None, infeasible=True, stats=SolverStats(
                solve_seconds=time.perf_counter() - t0, stages=tuple(stages), extra=extra,
                notes=("a line that must be filled has no feasible source",)))

    # 3b. assignment batches: the knapsack Lagrangian (a bound at least the LP's)
    if res is not None and math.isfinite(res.bound) and assign.is_assignment(p) \
            and not inc.proven() and not budget.expired():
        knapsack_stage(p, params, inc, res, work, stage, extra)

    # 4. price-and-branch over the columns (not on assignment batches: there the columns
    # are single arcs, and the tabu search of the local search does better in the time)
    if res is not None and not inc.proven() and not budget.expired() \
            and not assign.is_assignment(p):
        ip_stage(p, run, params, budget, inc, res, work, stage, extra)

    # 5. an exact MIP, warm-started, where the batch is small for the time left
    left = budget.remaining()
    small = (p.n_line_arcs <= max(min(params.mip_line_arcs_per_second * left,
                                      params.mip_line_arcs_max), params.mip_line_arcs_tiny)
             if timed else p.n_line_arcs <= params.mip_line_arcs_untimed)
    backend = (_mip_backend(params) if small and left > params.min_stage_seconds
               and not inc.proven() else None)
    if backend is not None:
        t = time.perf_counter()
        mip_share = params.mip_share_tiny if tiny else params.mip_share
        rest = work.rest()
        mb = rest.share(mip_share) if timed else rest.within(params.mip_untimed_seconds)
        if not timed and rest.work is not None:
            mb = mb.with_work(int(mip_share * rest.work))
        info = get(backend)
        r = info.func(p, run.but(budget=mb, params=info.params(), initial=inc.x))
        work.used += r.stats.work
        extra["mip_status"] = str(r.status)
        extra["mip_termination"] = r.termination.to_dict()
        inc.offer(r.x, backend)
        inc.bound(r.bound)
        stage(backend, t, r.stats.work, r.termination.fallback or r.termination.detail)

    # 6. local search until the budget is spent
    if inc.x is not None and not inc.proven() and not budget.expired():
        t = time.perf_counter()
        x, ls = local_search.improve(p, inc.x, work.rest(), run.seed)
        limit = ls.pop("limit", Limit.NONE)
        work.used += int(ls.get("moves", 0))
        extra.update({"ls_" + k: v for k, v in ls.items()})
        inc.offer(x, "local_search")
        stage("local_search", t, int(ls.get("moves", 0)))
    elif budget.expired() and not inc.proven():
        limit = Limit.INTERRUPTED if budget.cancelled() else Limit.TIME

    extra.update(incumbents=inc.history)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0, work=work.used,
                        stages=tuple(stages), notes=tuple(notes), extra=extra)
    lb = inc.lb if math.isfinite(inc.lb) else None
    return conclude("auto", p, run, inc.x, bound=lb, source=inc.source, limit=limit,
                    stats=stats)
