"""Turning a solver's plan into an :class:`~router.contract.Outcome`, the same way for every
solver: the plan is checked against the compiled constraints (a plan that breaks one is no
plan), its objective computed, and its status decided by :func:`router.contract.within_gap`."""

from __future__ import annotations

import logging
import math

import numpy as np

from router.compile import Problem
from router.contract import (
    Limit,
    Outcome,
    Reason,
    Run,
    SolverStats,
    Status,
    Termination,
    within_gap,
)
from router.evaluate import objective, violations

log = logging.getLogger(__name__)


def conclude(solver: str, p: Problem, run: Run, x: np.ndarray | None, *,
             bound: float | None = None, source: str = "", limit: Limit = Limit.NONE,
             stats: SolverStats | None = None, detail: str = "",
             infeasible: bool = False) -> Outcome:
    """The outcome of plan ``x`` (units per line-arc, or ``None``) with proven ``bound``;
    ``limit``: the limit that stopped the solver, if one did; ``infeasible``: the solver
    proved that no plan exists."""
    stats = stats or SolverStats()
    if bound is not None and not math.isfinite(bound):
        bound = None
    if infeasible:
        return Outcome(solver, Status.INFEASIBLE, Termination(Reason.INFEASIBLE, limit, detail),
                       None, None, None, source, stats)
    if x is not None:
        from router.solvers.heuristics.core import feasible

        bad = [] if feasible(p, x) else violations(p, x)
        obj = objective(p, x) if not bad else math.inf
        if bad or not math.isfinite(obj):
            why = "; ".join(bad) or "a line that must be filled is short"
            log.error("%s produced an infeasible plan for %s: %s", solver, p.name, why)
            stats = stats.but(notes=(*stats.notes, f"plan discarded: {why}"))
            x = None
    if x is None:
        reason = Reason.LIMIT if limit != Limit.NONE else Reason.COMPLETED
        return Outcome(solver, Status.NO_SOLUTION, Termination(reason, limit, detail), None,
                       None, bound, source, stats)
    if bound is not None and bound > obj:
        if within_gap(bound, obj, 0.0):  # rounding: a bound a hair above the plan is its cost
            bound = obj
        else:  # a "bound" above a feasible plan is wrong: never report it
            log.error("%s reported a bound %r above its plan's cost %r on %s; dropped",
                      solver, bound, obj, p.name)
            stats = stats.but(notes=(*stats.notes, f"bound {bound!r} above the plan dropped"))
            bound = None
    if within_gap(obj, bound, run.mip_gap):
        term = Termination(Reason.OPTIMAL, limit, detail)
        return Outcome(solver, Status.OPTIMAL, term, x, obj, bound, source, stats)
    reason = Reason.LIMIT if limit != Limit.NONE else Reason.COMPLETED
    return Outcome(solver, Status.FEASIBLE, Termination(reason, limit, detail), x, obj, bound,
                   source, stats)
