"""OR-Tools backends: ``ortools-highs``, ``ortools-scip``, ``ortools-cpsat`` and ``lp-bound``.

The model of :mod:`router.solvers.exact.model` goes to OR-Tools MathOpt as one ``ModelProto``:
its variables, row bounds and sparse matrix are filled straight from the numpy arrays
(repeated fields extended in bulk; no Python object per variable or constraint) and solved
with MathOpt's core ``solve``, which takes the proto as it is. MathOpt gives every engine the
same parameters (time limit, relative gap, seed, threads), a solution hint (the MIP start) and
the same answer: termination reason, best solution, proven dual bound.

``lp-bound`` solves the LP relaxation of the same model with HiGHS: its optimum is a proven
lower bound on the routing cost, and it has no plan of its own (status ``no_solution`` with
``lower_bound`` set; :func:`router.solve` then returns the greedy plan as incumbent beside the
LP bound, and says so in ``stats.fallback``). :func:`lp_bound` gives the bound directly.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from router.compile import Problem
from router.solvers.exact.driver import (
    ERROR,
    FEASIBLE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    EngineAnswer,
    engine_time_limit,
    heavy_presolve,
    solve_mip,
    strengthen_bound,
    too_little_time,
)
from router.solvers.exact.model import MipModel, build_model, must_fill_without_source
from router.solvers.registry import Deadline, SolveOptions, SolverResult, Status, register

log = logging.getLogger(__name__)

HIGHS, GSCIP, CP_SAT = "HIGHS", "GSCIP", "CP_SAT"
_LABEL = {HIGHS: "HiGHS via OR-Tools MathOpt", GSCIP: "SCIP via OR-Tools MathOpt",
          CP_SAT: "CP-SAT via OR-Tools MathOpt"}


def load_mathopt_core() -> Any:
    """Import MathOpt's core solver module, binding OR-Tools to its own copy of HiGHS.

    PuLP loads highspy's HiGHS into the global symbol namespace (``RTLD_GLOBAL``) when it is
    imported. OR-Tools carries its own, different HiGHS; loaded after PuLP, its calls would
    resolve to highspy's symbols and crash. Loading it with ``RTLD_DEEPBIND`` (where the
    platform has it) makes it use its own symbols first, whatever was imported before.
    """
    import os
    import sys

    name = "ortools.math_opt.core.python.solver"
    if name in sys.modules:
        return sys.modules[name]
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)
    old = sys.getdlopenflags()
    if deepbind:
        sys.setdlopenflags(os.RTLD_NOW | deepbind)
    try:
        from ortools.math_opt.core.python import solver
    finally:
        sys.setdlopenflags(old)
    return solver


def _unavailable() -> str | None:
    try:
        load_mathopt_core()
    except ImportError as e:
        return f"OR-Tools MathOpt is not importable ({e}); pip install ortools"
    return None


def model_proto(model: MipModel, relax: bool = False, name: str = "router") -> Any:
    """The model as a MathOpt ``ModelProto`` (``relax``: every variable continuous)."""
    from ortools.math_opt import model_pb2

    mp = model_pb2.ModelProto(name=name)
    v = mp.variables
    v.ids.extend(range(model.n_cols))
    v.lower_bounds.extend(model.col_lb.tolist())
    v.upper_bounds.extend(model.col_ub.tolist())
    v.integers.extend([False] * model.n_cols if relax else model.col_int.tolist())
    nz = np.flatnonzero(model.obj)
    mp.objective.linear_coefficients.ids.extend(nz.tolist())
    mp.objective.linear_coefficients.values.extend(model.obj[nz].tolist())
    lc = mp.linear_constraints
    lc.ids.extend(range(model.n_rows))
    lc.lower_bounds.extend(model.row_lb.tolist())
    lc.upper_bounds.extend(model.row_ub.tolist())
    mat = mp.linear_constraint_matrix
    mat.row_ids.extend(model.a_row.tolist())
    mat.column_ids.extend(model.a_col.tolist())
    mat.coefficients.extend(model.a_val.tolist())
    return mp


CPSAT_LIGHT_PRESOLVE_NONZEROS = 50_000  # above this, CP-SAT presolves lightly (no probing)


def _params(solver: str, time_limit: float | None, options: SolveOptions, lp: bool,
            n_nonzeros: int = 0) -> Any:
    from ortools.math_opt import parameters_pb2

    params = parameters_pb2.SolveParametersProto(random_seed=int(options.seed) % (2 ** 31))
    if not lp:
        params.relative_gap_tolerance = max(0.0, float(options.mip_gap))
    if time_limit is not None:
        params.time_limit.FromNanoseconds(max(1, int(time_limit * 1e9)))
    threads = max(1, int(options.threads))
    if solver == CP_SAT:
        params.threads = threads
        # CP-SAT stops at an absolute gap of 1e-4 by default: with fractional costs that
        # leaves a plan measurably above the optimum. Ask for the precision of the others.
        params.absolute_gap_tolerance = 1e-6
        if threads == 1:
            # one worker: give it the full LP relaxation (the strong linking rows), which
            # the portfolio of several workers would otherwise provide
            params.cp_sat.linearization_level = 2
        if n_nonzeros > CPSAT_LIGHT_PRESOLVE_NONZEROS:
            # on a sale-day batch of thousands of orders the full presolve (probing, clique
            # merging) can take the whole budget before the first solution
            params.cp_sat.cp_model_probing_level = 0
            params.cp_sat.max_presolve_iterations = 1
    elif solver == GSCIP:
        params.threads = 1  # SCIP is single-threaded
    elif solver == HIGHS and not lp and heavy_presolve(n_nonzeros, time_limit):
        params.presolve = parameters_pb2.EMPHASIS_OFF
    for key, value in options.extra.get("ortools_params", {}).items():
        setattr(params, key, value)
    return params


def run_mathopt(model: MipModel, solver: str, start: np.ndarray | None,
                seconds: float | None, options: SolveOptions, relax: bool = False,
                name: str = "router") -> EngineAnswer:
    """Hand ``model`` to MathOpt's ``solver`` and read its answer (see :class:`EngineAnswer`)."""
    from ortools.math_opt import model_parameters_pb2, parameters_pb2, result_pb2, solution_pb2

    core = load_mathopt_core()

    t0 = time.perf_counter()
    mp = model_proto(model, relax=relax, name=name)
    mparams = model_parameters_pb2.ModelSolveParametersProto()
    if start is not None and not relax:
        hint = mparams.solution_hints.add()
        hint.variable_values.ids.extend(range(model.n_cols))
        hint.variable_values.values.extend(np.asarray(start, dtype=np.float64).tolist())
    limit = engine_time_limit(seconds, t0)
    build = time.perf_counter() - t0
    if limit is not None and limit <= 0.0:
        return EngineAnswer(NO_SOLUTION, build_seconds=build,
                            stats={"engine_note": "no time left after building the model"})
    params = _params(solver, limit, options, relax, model.n_nonzeros)
    solver_type = getattr(parameters_pb2, f"SOLVER_TYPE_{solver}")
    t1 = time.perf_counter()
    # (SCIP through MathOpt reports an error on stderr when given an interrupter: not used)
    interrupter, timer = _watchdog(None if solver == GSCIP else limit)
    try:
        res = core.solve(mp, solver_type, parameters_pb2.SolverInitializerProto(), params,
                         mparams, None, _callback_registration(), None,
                         None if interrupter is None else interrupter.pybind_interrupter)
    finally:
        if timer is not None:
            timer.cancel()
    solve = time.perf_counter() - t1
    interrupted = interrupter is not None and interrupter.interrupted

    reason = res.termination.reason
    bounds = res.termination.objective_bounds
    dual = bounds.dual_bound if math.isfinite(bounds.dual_bound) else None
    values = None
    for sol in res.solutions:
        ps = sol.primal_solution
        if sol.HasField("primal_solution") and \
                ps.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE:
            values = np.zeros(model.n_cols, dtype=np.float64)
            values[np.asarray(ps.variable_values.ids, dtype=np.int64)] = \
                np.asarray(ps.variable_values.values, dtype=np.float64)
            break
    if reason == result_pb2.TERMINATION_REASON_OPTIMAL:
        status = OPTIMAL
        if relax and values is not None and dual is None:
            dual = model.objective_of(values)
    elif reason in (result_pb2.TERMINATION_REASON_INFEASIBLE,
                    result_pb2.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED):
        status = INFEASIBLE
    elif reason == result_pb2.TERMINATION_REASON_FEASIBLE:
        status = FEASIBLE
    elif reason == result_pb2.TERMINATION_REASON_NO_SOLUTION_FOUND:
        status = NO_SOLUTION
    else:
        status = ERROR
    stats: dict[str, Any] = {
        "engine_detail": res.termination.detail,
        "engine_limit": result_pb2.LimitProto.Name(res.termination.limit),
    }
    if interrupted:
        stats["engine_note"] = "interrupted past the time limit"
    if res.solve_stats.node_count:
        stats["nodes"] = int(res.solve_stats.node_count)
    if res.solve_stats.simplex_iterations:
        stats["simplex_iterations"] = int(res.solve_stats.simplex_iterations)
    if relax:
        values = None  # an LP solution is not a plan
    return EngineAnswer(status, values, dual, build, solve, stats)


def _watchdog(limit: float | None) -> tuple[Any, Any]:
    """An interrupter that fires shortly after the engine's time limit: some engines look at
    their clock only between phases (HiGHS presolve of a large model), an interrupt is
    honoured sooner."""
    if limit is None:
        return None, None
    import threading

    from ortools.util.python import solve_interrupter

    interrupter = solve_interrupter.SolveInterrupter()
    timer = threading.Timer(limit + min(1.0, max(0.1, 0.05 * limit)), interrupter.interrupt)
    timer.daemon = True
    timer.start()
    return interrupter, timer


def _callback_registration() -> Any:
    from ortools.math_opt import callback_pb2

    return callback_pb2.CallbackRegistrationProto()


PROTO_SECONDS_PER_NONZERO = 2e-7  # optimistic cost of the ModelProto and its loading


def _mip_solver(name: str, solver: str) -> Any:
    def engine(model: MipModel, start: np.ndarray | None, seconds: float | None,
               options: SolveOptions) -> EngineAnswer:
        skip = too_little_time(seconds, model, PROTO_SECONDS_PER_NONZERO)
        if skip is not None:
            return skip
        return run_mathopt(model, solver, start, seconds, options)

    def solve(problem: Problem, options: SolveOptions) -> SolverResult:
        return solve_mip(name, problem, options, engine, _LABEL[solver])

    solve.__name__ = f"solve_{name.replace('-', '_')}"
    return solve


solve_ortools_highs = register(
    "ortools-highs", "exact MIP: HiGHS through OR-Tools MathOpt, warm-started from greedy",
    "mip", available=_unavailable)(_mip_solver("ortools-highs", HIGHS))
solve_ortools_scip = register(
    "ortools-scip", "exact MIP: SCIP through OR-Tools MathOpt, warm-started from greedy",
    "mip", available=_unavailable)(_mip_solver("ortools-scip", GSCIP))
solve_ortools_cpsat = register(
    "ortools-cpsat", "exact MIP: CP-SAT through OR-Tools MathOpt (threads = workers), "
                     "warm-started from greedy", "mip", available=_unavailable)(
    _mip_solver("ortools-cpsat", CP_SAT))


def lp_bound(problem: Problem, time_limit: float | None = None,
             model: MipModel | None = None) -> tuple[float | None, str, dict[str, Any]]:
    """Proven lower bound from the LP relaxation of the MIP model (HiGHS), rounded up where
    every plan costs a whole number.

    Returns ``(bound, status, stats)``: status ``"optimal"`` with the LP optimum,
    ``"infeasible"`` (then the batch itself is infeasible; bound None), or ``"no_solution"``
    when the time ran out (bound None unless the LP solver had a dual bound).
    """
    deadline = Deadline(time_limit)
    if must_fill_without_source(problem):
        return None, INFEASIBLE, {"note": "a line that must be filled has no candidate node"}
    if problem.n_line_arcs > LP_SIMPLEX_MAX_LINE_ARCS and model is None:
        return _lagrangian_lp_bound(problem, deadline)
    t0 = time.perf_counter()
    if model is None:
        model = build_model(problem)
    model_secs = time.perf_counter() - t0
    left = None if time_limit is None else deadline.remaining()
    ans = run_mathopt(model, HIGHS, None, left, SolveOptions(), relax=True)
    stats = {**ans.stats, "build_seconds": model_secs + ans.build_seconds,
             "solve_seconds": ans.solve_seconds, "model": model.size()}
    if ans.status == INFEASIBLE:
        return None, INFEASIBLE, stats
    bound = strengthen_bound(model, ans.bound)
    return bound, OPTIMAL if ans.status == OPTIMAL else NO_SOLUTION, stats


# above this many line-arcs the LP's simplex takes seconds to minutes (30-90 s on 200,000):
# the Lagrangian dual of router.solvers.bounds, at least as strong, takes over
LP_SIMPLEX_MAX_LINE_ARCS = 30_000


def _lagrangian_lp_bound(problem: Problem, deadline: Deadline
                         ) -> tuple[float | None, str, dict[str, Any]]:
    from router.solvers.bounds.dual import lagrangian_bound

    r = lagrangian_bound(problem, deadline)
    stats: dict[str, Any] = {"method": "Lagrangian dual by column generation (at least the LP "
                                       "bound once converged)", "stop": r.stats.stop,
                             "iterations": r.stats.iterations,
                             "build_seconds": 0.0, "solve_seconds": r.stats.seconds}
    if r.bound == math.inf:
        return None, INFEASIBLE, stats
    bound = r.bound if math.isfinite(r.bound) else None
    done = r.stats.stop in ("converged", "no_column", "feasible")
    return bound, OPTIMAL if done else NO_SOLUTION, stats


@register("lp-bound", "LP relaxation of the MIP model (HiGHS): a proven lower bound and no "
                      "plan of its own; `router solve` pairs it with the greedy plan",
          "bound", available=_unavailable)
def solve_lp_bound(problem: Problem, options: SolveOptions) -> SolverResult:
    t0 = time.perf_counter()
    bound, status, stats = lp_bound(problem, options.time_limit)
    build = float(stats.pop("build_seconds", 0.0))
    solve = float(stats.pop("solve_seconds", 0.0))
    stats = {**stats, "engine": "HiGHS LP via OR-Tools MathOpt", "engine_status": status,
             "bound": "LP relaxation"}
    if status == INFEASIBLE:
        return SolverResult("lp-bound", Status.INFEASIBLE, None, None, None, build, solve, stats)
    stats["seconds_total"] = time.perf_counter() - t0
    return SolverResult("lp-bound", Status.NO_SOLUTION, None, None, bound, build, solve, stats)
