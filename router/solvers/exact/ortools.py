"""OR-Tools backends: ``ortools-highs``, ``ortools-scip``, ``ortools-cpsat`` and ``lp-bound``.

The model of :mod:`router.solvers.exact.model` goes to OR-Tools MathOpt as one ``ModelProto``:
its variables, row bounds and sparse matrix are filled straight from the numpy arrays
(repeated fields extended in bulk; no Python object per variable or constraint) and solved
with MathOpt's core ``solve``, which takes the proto as it is. MathOpt gives every engine the
same parameters (time limit, node limit, relative gap, seed, threads), a solution hint (the
MIP start) and the same answer: termination reason and limit, best solution, proven dual bound.
Every engine call runs in a child process that is killed at the deadline
(:mod:`router.solvers.exact.isolate`).

``lp-bound`` solves the LP relaxation of the same model with HiGHS: its optimum is a proven
lower bound on the routing cost. It returns the greedy plan beside that bound (its source is
``greedy``), so its gap says how far greedy is from the LP bound.
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
    Run,
    SolverStats,
    param,
)
from router.solvers.exact.driver import (
    ERROR,
    FEASIBLE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    EngineAnswer,
    EngineSetup,
    MipParams,
    engine_time_limit,
    heavy_presolve,
    run_engine,
    solve_mip,
    strengthen_bound,
)
from router.solvers.exact.model import MipModel, build_model, must_fill_without_source
from router.solvers.registry import register
from router.solvers.result import conclude

log = logging.getLogger(__name__)

HIGHS, GSCIP, CP_SAT = "HIGHS", "GSCIP", "CP_SAT"
_LABEL = {HIGHS: "HiGHS via OR-Tools MathOpt", GSCIP: "SCIP via OR-Tools MathOpt",
          CP_SAT: "CP-SAT via OR-Tools MathOpt"}
_TIME_LIMIT_REACHED = 0.95
"""An engine that stopped on an unnamed limit after this share of its time limit was stopped
by the clock."""


@dataclass(frozen=True)
class OrToolsParams(MipParams):
    """The OR-Tools MathOpt backends (one work unit = one branch-and-bound node)."""

    proto_seconds_per_nonzero: float = param(
        2e-7, lo=0.0, doc="optimistic cost of building and loading the ModelProto")
    preload_seconds: float = param(
        1.0, lo=0.0, doc="with more time left than this, MathOpt is loaded into the calling "
                         "process once (0.05-0.2 s), so that later engine processes have it")


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
    if "pulp" not in sys.modules:  # only PuLP puts a HiGHS in the global namespace
        from ortools.math_opt.core.python import solver as plain

        return plain
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
    """Checked without importing the engine into the caller's process (it is loaded in the
    engine's child process only)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("ortools.math_opt.core.python.solver")
    except ImportError as e:
        return f"OR-Tools MathOpt is not importable ({e}); pip install ortools"
    if spec is None:
        return "OR-Tools MathOpt is not installed; pip install ortools"
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


def _params(solver: str, time_limit: float | None, setup: EngineSetup, lp: bool,
            n_nonzeros: int = 0) -> Any:
    from ortools.math_opt import parameters_pb2

    params = parameters_pb2.SolveParametersProto(random_seed=int(setup.seed) % (2 ** 31),
                                                 enable_output=setup.verbose)
    if not lp:
        params.relative_gap_tolerance = max(0.0, float(setup.mip_gap))
        if setup.node_limit is not None:
            params.node_limit = int(setup.node_limit)
    if time_limit is not None:
        params.time_limit.FromNanoseconds(max(1, int(time_limit * 1e9)))
    threads = max(1, int(setup.threads))
    if solver == CP_SAT:
        params.threads = threads
        # CP-SAT stops at an absolute gap of 1e-4 by default: with fractional costs that
        # leaves a plan measurably above the optimum. Ask for the precision of the others.
        params.absolute_gap_tolerance = 1e-6
        if threads == 1:
            # one worker: give it the full LP relaxation (the strong linking rows), which
            # the portfolio of several workers would otherwise provide
            params.cp_sat.linearization_level = 2
        if n_nonzeros > setup.params.cpsat_light_presolve_nonzeros:
            # on a sale-day batch of thousands of orders the full presolve (probing, clique
            # merging) can take the whole budget before the first solution
            params.cp_sat.cp_model_probing_level = 0
            params.cp_sat.max_presolve_iterations = 1
    elif solver == GSCIP:
        params.threads = 1  # SCIP is single-threaded
    elif solver == HIGHS and not lp and heavy_presolve(n_nonzeros, time_limit, setup.params):
        params.presolve = parameters_pb2.EMPHASIS_OFF
    for opt in setup.params.engine_options:
        key, _, value = opt.partition("=")
        field = params.DESCRIPTOR.fields_by_name.get(key.strip())
        if field is None or field.message_type is not None:
            raise ValueError(f"engine option {opt!r}: not a scalar field of SolveParametersProto")
        setattr(params, key.strip(), _scalar(value.strip(), field))
    return params


def _scalar(text: str, field: Any) -> Any:
    t = field.cpp_type
    if t == field.CPPTYPE_BOOL:
        return text.lower() in ("1", "true", "yes", "on")
    if t in (field.CPPTYPE_INT32, field.CPPTYPE_INT64, field.CPPTYPE_UINT32, field.CPPTYPE_UINT64,
             field.CPPTYPE_ENUM):
        return int(text)
    if t in (field.CPPTYPE_FLOAT, field.CPPTYPE_DOUBLE):
        return float(text)
    return text


def run_mathopt(model: MipModel, solver: str, start: np.ndarray | None,
                seconds: float | None, setup: EngineSetup, relax: bool = False,
                name: str = "router") -> EngineAnswer:
    """Hand ``model`` to MathOpt's ``solver`` and read its answer (in the engine's process)."""
    t0 = time.perf_counter()
    core = load_mathopt_core()
    from ortools.math_opt import model_parameters_pb2, parameters_pb2, result_pb2, solution_pb2

    mp = model_proto(model, relax=relax, name=name)
    mparams = model_parameters_pb2.ModelSolveParametersProto()
    if start is not None and not relax:
        hint = mparams.solution_hints.add()
        hint.variable_values.ids.extend(range(model.n_cols))
        hint.variable_values.values.extend(np.asarray(start, dtype=np.float64).tolist())
    limit = engine_time_limit(seconds, t0)
    build = time.perf_counter() - t0
    if limit is not None and limit <= 0.0:
        return EngineAnswer(NO_SOLUTION, build_seconds=build, limit=Limit.TIME,
                            detail="no time left after building the model")
    params = _params(solver, limit, setup, relax, model.n_nonzeros)
    solver_type = getattr(parameters_pb2, f"SOLVER_TYPE_{solver}")
    t1 = time.perf_counter()
    res = core.solve(mp, solver_type, parameters_pb2.SolverInitializerProto(), params,
                     mparams, None, _callback_registration(), None, None)
    solve = time.perf_counter() - t1

    reason = res.termination.reason
    bounds = res.termination.objective_bounds
    dual = bounds.dual_bound if math.isfinite(bounds.dual_bound) else None
    values = None
    duals = None
    for sol in res.solutions:
        ps = sol.primal_solution
        if sol.HasField("primal_solution") and \
                ps.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE:
            values = np.zeros(model.n_cols, dtype=np.float64)
            values[np.asarray(ps.variable_values.ids, dtype=np.int64)] = \
                np.asarray(ps.variable_values.values, dtype=np.float64)
            break
    if relax:
        for sol in res.solutions:
            ds = sol.dual_solution
            if sol.HasField("dual_solution") and \
                    ds.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE:
                duals = np.zeros(model.n_rows, dtype=np.float64)
                duals[np.asarray(ds.dual_values.ids, dtype=np.int64)] = \
                    np.asarray(ds.dual_values.values, dtype=np.float64)
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
    limit_name = result_pb2.LimitProto.Name(res.termination.limit)
    lim = {"LIMIT_TIME": Limit.TIME, "LIMIT_NODE": Limit.WORK, "LIMIT_ITERATION": Limit.WORK,
           "LIMIT_INTERRUPTED": Limit.INTERRUPTED}.get(limit_name, Limit.NONE)
    if lim == Limit.NONE and status in (FEASIBLE, NO_SOLUTION) and limit is not None \
            and solve >= _TIME_LIMIT_REACHED * limit:
        # MathOpt's FEASIBLE and NO_SOLUTION_FOUND mean a limit stopped the engine; CP-SAT
        # does not say which (LIMIT_UNDETERMINED): with its time used up, it was the clock
        lim = Limit.TIME
    extra: dict[str, Any] = {"engine_limit": limit_name}
    if relax:
        values = None  # an LP solution is not a plan
        if duals is not None:
            extra["row_duals"] = duals
    return EngineAnswer(status, values, dual, build, solve,
                        nodes=int(res.solve_stats.node_count),
                        iterations=int(res.solve_stats.simplex_iterations
                                       + res.solve_stats.barrier_iterations
                                       + res.solve_stats.first_order_iterations),
                        detail=res.termination.detail, limit=lim, extra=extra)


def _callback_registration() -> Any:
    from ortools.math_opt import callback_pb2

    return callback_pb2.CallbackRegistrationProto()


def _mip_solver(name: str, solver: str) -> Any:
    def engine(model: MipModel, start: np.ndarray | None, seconds: float | None,
               setup: EngineSetup, workdir: str) -> EngineAnswer:
        return run_mathopt(model, solver, start, seconds, setup)

    def solve(problem: Problem, run: Run) -> Outcome:
        p = run.params if isinstance(run.params, OrToolsParams) else OrToolsParams()
        if run.budget.remaining() > p.preload_seconds:
            load_mathopt_core()  # once per process, so that each engine's child has it
        # (with less time left the child loads it: its import counts in the engine's time)
        return solve_mip(name, problem, run.but(params=p), engine, _LABEL[solver],
                         p.proto_seconds_per_nonzero)

    solve.__name__ = f"solve_{name.replace('-', '_')}"
    return solve


_NODE = "a branch-and-bound node"
solve_ortools_highs = register(
    "ortools-highs", "exact MIP: HiGHS through OR-Tools MathOpt, warm-started from greedy",
    "mip", params=OrToolsParams, available=_unavailable, work_unit=_NODE)(
    _mip_solver("ortools-highs", HIGHS))
solve_ortools_scip = register(
    "ortools-scip", "exact MIP: SCIP through OR-Tools MathOpt, warm-started from greedy",
    "mip", params=OrToolsParams, available=_unavailable, work_unit=_NODE)(
    _mip_solver("ortools-scip", GSCIP))
solve_ortools_cpsat = register(
    "ortools-cpsat", "exact MIP: CP-SAT through OR-Tools MathOpt (threads = workers), "
                     "warm-started from greedy", "mip", params=OrToolsParams,
    available=_unavailable, work_unit=_NODE)(_mip_solver("ortools-cpsat", CP_SAT))


@dataclass(frozen=True)
class LpBound:
    """The LP relaxation's answer: ``bound`` (proven; ``None`` without one), ``status``
    (``optimal``, ``infeasible``: then the batch is infeasible, or ``no_solution``: the time ran
    out), the row duals where solved, and the engine's figures."""

    bound: float | None
    status: str
    duals: np.ndarray | None
    answer: EngineAnswer
    model: MipModel | None


def _lp_engine(model: MipModel, start: np.ndarray | None, seconds: float | None,
               setup: EngineSetup, workdir: str) -> EngineAnswer:
    return run_mathopt(model, HIGHS, None, seconds, setup, relax=True)


def lp_bound(problem: Problem, budget: Budget, model: MipModel | None = None,
             verbose: bool = False) -> LpBound:
    """Proven lower bound from the LP relaxation of the MIP model (HiGHS, in a child process
    killed at the budget's deadline), rounded up where every plan costs a whole number."""
    if must_fill_without_source(problem):
        return LpBound(None, INFEASIBLE, None, EngineAnswer(
            INFEASIBLE, detail="a line that must be filled has no candidate node"), None)
    if problem.n_line_arcs > LP_SIMPLEX_MAX_LINE_ARCS and model is None:
        return _lagrangian_lp_bound(problem, budget)
    t0 = time.perf_counter()
    if model is None:
        model = build_model(problem)
    built = time.perf_counter() - t0
    setup = EngineSetup(0, 0.0, 1, None, verbose, MipParams())
    ans = run_engine(_lp_engine, model, None, budget, setup, "lp-bound (HiGHS LP)")
    ans.build_seconds += built
    duals = ans.extra.pop("row_duals", None)
    if ans.status == INFEASIBLE:
        return LpBound(None, INFEASIBLE, None, ans, model)
    bound = strengthen_bound(model, ans.bound)
    return LpBound(bound, OPTIMAL if ans.status == OPTIMAL else NO_SOLUTION, duals, ans, model)


# above this many line-arcs the LP's simplex takes seconds to minutes (30-113 s on the
# 200,000 of the 20,000-order batch): the Lagrangian dual of router.solvers.bounds, at least
# as strong once converged, takes over
LP_SIMPLEX_MAX_LINE_ARCS = 30_000


def _lagrangian_lp_bound(problem: Problem, budget: Budget) -> LpBound:
    """``lp_bound`` of a large batch: the Lagrangian dual by column generation, in a child
    process killed at the deadline (status ``optimal`` once converged, ``no_solution`` with the
    bound reached when the time ran out); no row duals or model (its prices are those of the
    coupling rows only)."""
    from router.solvers.bounds.dual import isolated_bound

    if budget.expired():
        return LpBound(None, NO_SOLUTION, None, EngineAnswer(
            NO_SOLUTION, detail="not started: no time left", limit=Limit.TIME), None)
    r, why = isolated_bound(problem, budget, max_iterations=budget.work)
    if r is None:
        return LpBound(None, NO_SOLUTION, None, EngineAnswer(
            NO_SOLUTION, detail=f"column generation gave no answer: {why}",
            limit=Limit.INTERRUPTED if budget.cancelled() else Limit.TIME), None)
    s = r.stats
    detail = f"Lagrangian dual by column generation ({s.iterations} rounds, {s.stop})"
    if r.bound == math.inf:
        return LpBound(None, INFEASIBLE, None, EngineAnswer(INFEASIBLE, detail=detail), None)
    bound = r.bound if math.isfinite(r.bound) else None
    done = s.stop in ("converged", "no_column", "feasible")
    limit = Limit.NONE if done else (Limit.WORK if s.stop == "iterations" else Limit.TIME)
    ans = EngineAnswer(OPTIMAL if done else NO_SOLUTION, bound=bound,
                       solve_seconds=s.seconds, iterations=s.iterations, detail=detail,
                       limit=limit)
    return LpBound(bound, ans.status, None, ans, None)


@register("lp-bound", "LP relaxation of the MIP model (HiGHS): a proven lower bound, beside "
                      "the greedy plan", "bound", available=_unavailable,
          work_unit="none (the LP is solved to optimality)")
def solve_lp_bound(problem: Problem, run: Run) -> Outcome:
    from router.solvers.heuristics.greedy import greedy_solution

    t0 = time.perf_counter()
    x, _ = greedy_solution(problem, run.seed, run.budget)
    res = lp_bound(problem, run.budget, verbose=run.verbose)
    ans = res.answer
    stats = SolverStats(build_seconds=ans.build_seconds, solve_seconds=ans.solve_seconds,
                        iterations=ans.iterations, engine="HiGHS LP via OR-Tools MathOpt",
                        engine_status=res.status, engine_detail=ans.detail,
                        notes=ans.notes, extra={"bound": "LP relaxation", "plan": "greedy",
                                                "seconds_total": time.perf_counter() - t0})
    if res.status == INFEASIBLE:
        return conclude("lp-bound", problem, run, None, infeasible=True, stats=stats,
                        detail=ans.detail)
    limit = ans.limit if res.status != OPTIMAL else Limit.NONE
    out = conclude("lp-bound", problem, run, x, bound=res.bound, source="greedy", limit=limit,
                   stats=stats, detail=ans.detail)
    return out
