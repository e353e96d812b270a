"""``auto``, the default solver: the best plan the project can find within the time limit.

Stages, each within what is left of the budget:

1. ``greedy`` (vectorised bidding rounds, milliseconds): the first plan, always feasible;
   on an assignment batch (GAP) its repair completes it.
2. Lagrangian subgradient (:mod:`router.solvers.bounds.lagrangian`), 15% of the budget on
   assignment batches, 20% on routing batches (5% on tiny ones, where the MIP of stage 3
   is the stage that proves the optimum): a proven lower bound and plans suggested by
   the prices. On routing batches the stock prices start from the duals of the
   transportation LP (up to ``transport_share`` more of the budget; it stops early when
   solved).
3. On batches small enough for the time left (line-arcs <= ``mip_line_arcs_per_second`` x
   seconds left, and at most ``mip_line_arcs_max``; always up to ``mip_line_arcs_tiny``), an
   exact MIP backend (the first available of ``mip_backends``) warm-started from the
   incumbent, for up to half of what is left; its bound counts too.
   Where no MIP ran, the LP relaxation (``lp-bound``) gives a stronger bound if it fits in
   30% of the time left (line-arcs <= ``lp_line_arcs_per_second`` x that share).
4. Local search (:mod:`router.solvers.heuristics.local_search`) on the best plan until the deadline.

Every candidate plan is checked with :func:`router.evaluate.violations` before it can become
the incumbent. The answer is the best plan and the best proven bound (the larger of the
Lagrangian and MIP bounds); the status is ``optimal`` when the plan is within the relative
gap asked for (``mip_gap``, as for the MIP backends) of the bound. ``auto`` stops early once
optimality is proven.

Work budgets make a run repeatable exactly: one work unit is a subgradient step, a
branch-and-bound node or a local-search move; the stages take shares of the work as they
take shares of the time (``lagrangian_share``, ``mip_share``, the rest for local search).
Without any limit the effort is ``default_work`` units (the MIP only on batches of at most
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
from router.solvers.bounds.lagrangian import subgradient
from router.solvers.heuristics import assign, local_search
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
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
    """Tuning of ``auto`` (one work unit = a subgradient step, a branch-and-bound node or a
    local-search move)."""

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
    lagrangian_share: float = param(0.15, lo=0.0, hi=1.0,
                                    doc="assignment batches (GAP): prices steer the repair")
    lagrangian_share_routing: float = param(
        0.2, lo=0.0, hi=1.0, doc="routing batches: the priced plans give local search a start")
    lagrangian_share_tiny: float = param(0.05, lo=0.0, hi=1.0,
                                         doc="tiny routing models: the time goes to the MIP")
    primal_every: int = param(25, lo=1, doc="subgradient steps between priced plans")
    transport_share: float = param(0.15, lo=0.0, hi=1.0,
                                   doc="routing: at most this for the starting stock prices")
    mip_share: float = param(0.5, lo=0.0, hi=1.0, doc="of the time left, for the MIP")
    mip_share_tiny: float = param(0.8, lo=0.0, hi=1.0,
                                  doc="tiny models: the MIP is the stage most likely to prove")
    lp_line_arcs_per_second: float = param(20_000, lo=0.0,
                                           doc="the LP bound is tried up to this many line-arcs "
                                               "per second of its share")
    lp_share: float = param(0.3, lo=0.0, hi=1.0, doc="of the time left, for the LP bound")
    min_stage_seconds: float = param(0.05, lo=0.0,
                                     doc="an exact stage is not started with less time left")
    default_work: int = param(800, lo=0, doc="work units when nothing limits the budget")


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


@register("auto", "the best plan found within the budget: greedy, Lagrangian bound and "
                  "prices, MIP on small batches, LP bound, local search (default)", "portfolio",
          params=AutoParams,
          work_unit="a subgradient step, a branch-and-bound node or a local-search move")
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
    work_used = 0
    limit = Limit.NONE

    def stage(name: str, t: float, work: int = 0, note: str = "") -> None:
        stages.append(StageRecord(name, time.perf_counter() - t, work,
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

    # 2. Lagrangian bound and priced plans
    if not budget.expired() and p.n_orders:
        t = time.perf_counter()
        frac = (params.lagrangian_share if assign.is_assignment(p)
                else params.lagrangian_share_tiny if tiny
                else params.lagrangian_share_routing)
        warm = None
        if not assign.is_assignment(p) and timed:
            warm = params.transport_share * budget.remaining()
            frac = min(1.0, frac + params.transport_share)
        share = budget.share(frac)
        out = subgradient(p, inc.x, share, run.seed, primal_every=params.primal_every,
                          warm_seconds=warm)
        its = int(out.stats.get("iterations", 0))
        work_used += its
        extra.update({"lagrangian_" + k: v for k, v in out.stats.items()})
        if out.lower_bound == math.inf:
            stage("lagrangian", t, its)
            return conclude("auto", p, run, None, infeasible=True, stats=SolverStats(
                solve_seconds=time.perf_counter() - t0, stages=tuple(stages), extra=extra,
                notes=("a line that must be filled has no feasible source",)))
        inc.offer(out.x, "lagrangian")
        inc.bound(out.lower_bound)
        stage("lagrangian", t, its)

    # 3. an exact MIP, warm-started, where the batch is small for the time left
    left = budget.remaining()
    small = (p.n_line_arcs <= max(min(params.mip_line_arcs_per_second * left,
                                      params.mip_line_arcs_max), params.mip_line_arcs_tiny)
             if timed else p.n_line_arcs <= params.mip_line_arcs_untimed)
    backend = (_mip_backend(params) if small and left > params.min_stage_seconds
               and not inc.proven() else None)
    mip_ran = False
    if backend is not None:
        t = time.perf_counter()
        mip_share = params.mip_share_tiny if tiny else params.mip_share
        rest = budget.with_work(None if budget.work is None else budget.work - work_used)
        mb = rest.share(mip_share) if timed else rest.within(params.mip_untimed_seconds)
        if not timed and rest.work is not None:
            mb = mb.with_work(int(mip_share * rest.work))
        info = get(backend)
        r = info.func(p, run.but(budget=mb, params=info.params(), initial=inc.x))
        mip_ran = True
        work_used += r.stats.work
        extra["mip_status"] = str(r.status)
        extra["mip_termination"] = r.termination.to_dict()
        inc.offer(r.x, backend)
        inc.bound(r.bound)
        stage(backend, t, r.stats.work, r.termination.fallback or r.termination.detail)

    # 3b. no MIP: the LP relaxation's bound where it fits in a share of the time left
    left = budget.remaining()
    if (not inc.proven() and not mip_ran and left > params.min_stage_seconds
            and p.n_line_arcs <= params.lp_line_arcs_per_second * params.lp_share * left
            and (timed or p.n_line_arcs <= params.mip_line_arcs_untimed)):
        try:
            get("lp-bound")
            from router.solvers.exact.ortools import lp_bound

            t = time.perf_counter()
            lp_budget = budget.share(params.lp_share) if timed else budget.within(
                params.mip_untimed_seconds)
            res = lp_bound(p, lp_budget, verbose=run.verbose)
            inc.bound(res.bound)
            stage("lp-bound", t, note=res.answer.detail)
        except SolverUnavailable:
            pass

    # 4. local search until the budget is spent
    if inc.x is not None and not inc.proven() and not budget.expired():
        t = time.perf_counter()
        rest = budget.with_work(None if budget.work is None else budget.work - work_used)
        x, ls = local_search.improve(p, inc.x, rest, run.seed)
        limit = ls.pop("limit", Limit.NONE)
        work_used += int(ls.get("moves", 0))
        extra.update({"ls_" + k: v for k, v in ls.items()})
        inc.offer(x, "local_search")
        stage("local_search", t, int(ls.get("moves", 0)))
    elif budget.expired() and not inc.proven():
        limit = Limit.INTERRUPTED if budget.cancelled() else Limit.TIME

    extra.update(incumbents=inc.history)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0, work=work_used,
                        stages=tuple(stages), notes=tuple(notes), extra=extra)
    lb = inc.lb if math.isfinite(inc.lb) else None
    return conclude("auto", p, run, inc.x, bound=lb, source=inc.source, limit=limit,
                    stats=stats)
