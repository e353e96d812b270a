"""``auto``, the default solver: the best plan the project can find within the time limit.

Stages, each within what is left of the budget:

1. ``greedy`` (vectorised bidding rounds, milliseconds): the first plan, always feasible;
   on an assignment batch (GAP) its repair completes it.
2. Lagrangian subgradient (:mod:`router.solvers.bounds.lagrangian`), 15% of the budget on
   assignment batches, 20% on routing batches (5% on tiny ones, where the MIP of stage 3
   is the stage that proves the optimum): a proven lower bound and plans suggested by
   the prices. On routing batches the stock prices start from the duals of the
   transportation LP (up to ``TRANSPORT_SHARE`` more of the budget; it stops early when
   solved).
3. On batches small enough for the time left (line-arcs <= ``MIP_LINE_ARCS_PER_SECOND`` x
   seconds left, and at most ``MIP_LINE_ARCS_MAX``; always up to ``MIP_LINE_ARCS_TINY``), an exact MIP backend (the first
   available of ``MIP_BACKENDS``) warm-started from the incumbent, for up to half of what
   is left; its bound counts too.
   Where no MIP ran, the LP relaxation (``lp-bound``) gives a stronger bound if it fits in
   30% of the time left (line-arcs <= ``LP_LINE_ARCS_PER_SECOND`` x that share).
4. Local search (:mod:`router.solvers.heuristics.local_search`) on the best plan until the deadline.

Every candidate plan is checked with :func:`router.evaluate.violations` before it can become
the incumbent. The answer is the best plan and the best proven bound (the larger of the
Lagrangian and MIP bounds); the status is ``optimal`` when the plan is within the relative
gap asked for (``mip_gap``, as for the MIP backends) of the bound. ``auto`` stops early once
optimality is proven.

Without a time limit the effort is fixed in work, not time, so the same seed gives the same
plan: ``DEFAULT_ITERATIONS`` subgradient steps, the MIP only on batches of at most
``MIP_LINE_ARCS_UNTIMED`` line-arcs (for at most ``MIP_UNTIMED_SECONDS``), and
``DEFAULT_MOVES`` local-search moves (on the 20,000-order ``l`` preset, about 6 s of one
core; 1 s on ``m``). Under a time limit every stage also stops
with the clock, so the plan depends on where the clock stopped it as well as on the seed.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from router.compile import Problem
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
from router.solvers.registry import Deadline, SolveOptions, SolverResult, Status, get, register

log = logging.getLogger(__name__)

MIP_BACKENDS = ("ortools-highs", "pulp-highs", "ortools-cpsat", "ortools-scip", "pulp-cbc")
MIP_LINE_ARCS_PER_SECOND = 5_000
MIP_LINE_ARCS_MAX = 30_000  # beyond this the model build alone can outrun a budget
# models this small are often proven optimal in a tenth of a second: always worth trying
# (a MIP cut short by the clock still returns the incumbent it was warm-started with)
MIP_LINE_ARCS_TINY = 3_000
LAGRANGIAN_SHARE = 0.15  # assignment batches (GAP): prices steer the repair well
# routing: the priced plans give local search a better start (on the 20,000-order preset at
# 10 s, 0.4% above the best plan known with 5%, -0.1 to +0.1% with 20%)
LAGRANGIAN_SHARE_ROUTING = 0.2
LAGRANGIAN_SHARE_TINY = 0.05  # tiny routing models: the time goes to the MIP, which proves
PRIMAL_EVERY = 25  # subgradient steps between priced plans
TRANSPORT_SHARE = 0.15  # routing: at most this for the starting stock prices (an LP)
MIP_SHARE = 0.5
MIP_SHARE_TINY = 0.8  # tiny models: the MIP is the stage most likely to prove the optimum
LP_LINE_ARCS_PER_SECOND = 20_000
LP_SHARE = 0.3


DEFAULT_ITERATIONS = 100
DEFAULT_MOVES = 300
MIP_LINE_ARCS_UNTIMED = 5_000
MIP_UNTIMED_SECONDS = 10.0


class Incumbent:
    """The best verified plan so far and the best proven bound; ``gap``: the relative gap
    within which the plan counts as proven optimal (``SolveOptions.mip_gap``)."""

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
        return self.x is not None and \
            self.lb >= self.obj - max(self.gap * abs(self.obj), 1e-6 * max(1.0, abs(self.obj)))


def _first_plan(p: Problem, seed: int, deadline: Deadline) -> np.ndarray | None:
    st = State(p)
    insert_orders(p, st, np.arange(p.n_orders), true_prices(p), priority="regret",
                  tiebreak=tiebreak_keys(p, seed), deadline=deadline)
    rng = np.random.default_rng(seed)
    # a must-fill repair is small (assignment batches) and is run even past the deadline,
    # so that a plan exists whenever one can be found
    return complete_must_fill(p, st.x, rng, None if not deadline.expired() else Deadline(0.5))


def _mip_backend() -> str | None:
    for name in MIP_BACKENDS:
        try:
            get(name)
        except SolverUnavailable:
            continue
        return name
    return None


@register("auto", "the best plan found within the time limit: greedy, Lagrangian bound and "
                  "prices, MIP on small batches, local search (default)", "heuristic")
def solve_auto(problem: Problem, options: SolveOptions) -> SolverResult:
    t0 = time.perf_counter()
    p = problem
    timed = options.time_limit is not None
    deadline = Deadline(options.time_limit)
    inc = Incumbent(p, options.mip_gap)
    tiny = p.n_line_arcs <= MIP_LINE_ARCS_TINY
    stages: list[str] = []
    stats: dict[str, Any] = {"time_limit": options.time_limit}

    # 1. a plan within milliseconds
    inc.offer(_first_plan(p, options.seed, deadline), "greedy")
    stages.append("greedy")
    if inc.x is None and p.must_fill and not deadline.expired():
        x, _ = regret_solution(p, options.seed, deadline)
        inc.offer(x, "regret")
        stages.append("regret")

    # 2. Lagrangian bound and priced plans
    if not deadline.expired() and p.n_orders:
        frac = (LAGRANGIAN_SHARE if assign.is_assignment(p)
                else LAGRANGIAN_SHARE_TINY if tiny
                else LAGRANGIAN_SHARE_ROUTING)
        warm = None
        if not assign.is_assignment(p) and options.time_limit is not None:
            warm = TRANSPORT_SHARE * options.time_limit
            frac += TRANSPORT_SHARE
        share = Deadline(min(deadline.remaining(), frac * options.time_limit)
                         if options.time_limit is not None else None)
        out = subgradient(p, inc.x, share, options.seed, primal_every=PRIMAL_EVERY,
                          max_iter=None if timed else DEFAULT_ITERATIONS, warm_seconds=warm)
        stages.append("lagrangian")
        stats.update({"lagrangian_" + k: v for k, v in out.stats.items()})
        if out.lower_bound == math.inf:
            return SolverResult("auto", Status.INFEASIBLE, None, None, None, 0.0,
                                time.perf_counter() - t0,
                                {**stats, "stages": stages,
                                 "note": "a line that must be filled has no feasible source"})
        inc.offer(out.x, "lagrangian")
        inc.bound(out.lower_bound)

    # 3. an exact MIP, warm-started, where the batch is small for the time left
    left = deadline.remaining()
    small = (p.n_line_arcs <= max(min(MIP_LINE_ARCS_PER_SECOND * left, MIP_LINE_ARCS_MAX),
                                  MIP_LINE_ARCS_TINY) if timed
             else p.n_line_arcs <= MIP_LINE_ARCS_UNTIMED)
    backend = _mip_backend() if small and left > 0.05 and not inc.proven() else None
    if backend is not None:
        try:
            mip_share = MIP_SHARE_TINY if tiny else MIP_SHARE
            r = get(backend).func(p, SolveOptions(time_limit=mip_share * left if timed else MIP_UNTIMED_SECONDS,
                                                  seed=options.seed, mip_gap=options.mip_gap,
                                                  threads=options.threads, warm_start=inc.x))
            stages.append(backend)
            stats["mip_status"] = str(r.status)
            inc.offer(r.x, backend)
            if r.status == Status.OPTIMAL and r.objective is not None:
                inc.bound(r.objective if r.lower_bound is None else r.lower_bound)
            else:
                inc.bound(r.lower_bound)
        except Exception as e:  # a backend failure must never cost the plan
            log.warning("auto: %s failed: %s", backend, e)
            stats["mip_error"] = f"{backend}: {e}"

    # 3b. no MIP: the LP relaxation's bound where it fits in a share of the time left
    left = deadline.remaining()
    if (not inc.proven() and "mip_status" not in stats and left > 0.05
            and p.n_line_arcs <= LP_LINE_ARCS_PER_SECOND * LP_SHARE * left
            and (timed or p.n_line_arcs <= MIP_LINE_ARCS_UNTIMED)):
        try:
            r = get("lp-bound").func(p, SolveOptions(time_limit=LP_SHARE * left if timed
                                                     else MIP_UNTIMED_SECONDS))
            stages.append("lp-bound")
            inc.bound(r.lower_bound)
        except SolverUnavailable:
            pass
        except Exception as e:  # a bound is a bonus: never let it cost the plan
            log.warning("auto: lp-bound failed: %s", e)

    # 4. local search until the deadline
    if inc.x is not None and not inc.proven() and not deadline.expired():
        x, ls = local_search.improve(p, inc.x, deadline, options.seed,
                                     max_moves=None if timed else DEFAULT_MOVES)
        stages.append("local_search")
        stats.update({"ls_" + k: v for k, v in ls.items()})
        inc.offer(x, "local_search")

    stats.update(stages=stages, incumbents=inc.history, best_from=inc.source)
    lb = inc.lb if math.isfinite(inc.lb) else None
    secs = time.perf_counter() - t0
    if inc.x is None:
        return SolverResult("auto", Status.NO_SOLUTION, None, None, lb, 0.0, secs, stats)
    status = Status.OPTIMAL if inc.proven() else Status.FEASIBLE
    return SolverResult("auto", status, inc.x, inc.obj, lb, 0.0, secs, stats)
