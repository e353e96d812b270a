"""PuLP backends: ``pulp-cbc`` (CBC, the solver bundled with PuLP) and ``pulp-highs`` (HiGHS
through PuLP's ``highspy`` interface).

The model of :mod:`router.solvers.exact.model` becomes one ``pulp.LpProblem``: one
``LpVariable`` per column and one ``LpConstraint`` per row, each built directly from its
slice of the sorted triplets (no ``lpSum`` chains, which are quadratic-prone), so building
stays linear in the number of nonzeros. Like every engine, both run in a child process killed
at the deadline (:mod:`router.solvers.exact.isolate`); PuLP is imported there only, never in
the caller's process. Each solver call gets the time left when the engine actually starts:

- CBC: PuLP writes the MPS file and the MIP start (``warmStart``) into the child's temporary
  folder, then the CBC time limit is read from the deadline (wall clock, ``timeMode
  elapsed``) after the files are written. The proven lower bound is read from CBC's log
  ("Lower bound" / "Objective value"). CBC runs in the child's process group and dies with it.
- HiGHS: PuLP's ``buildSolverModel`` is replaced by one bulk ``addCols`` / ``addRows`` call on
  the same arrays; the MIP start goes in with ``setSolution``; the dual bound comes from
  ``getInfo().mip_dual_bound``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import math
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import Limit, Outcome, Run, param
from router.solvers.exact.driver import (
    ERROR,
    FEASIBLE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    EngineAnswer,
    EngineSetup,
    MipParams,
    heavy_presolve,
    solve_mip,
)
from router.solvers.exact.model import MipModel
from router.solvers.registry import register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PulpParams(MipParams):
    """The PuLP backends (one work unit = one branch-and-bound node)."""

    cbc_seconds_per_nonzero: float = param(
        4e-6, lo=0.0, doc="optimistic cost of PuLP's objects, MPS and start files for CBC")
    highs_seconds_per_nonzero: float = param(
        1.5e-6, lo=0.0, doc="optimistic cost of PuLP's objects for HiGHS")
    read_back_seconds_per_item: float = param(
        4e-6, lo=0.0, doc="reading the answer back into PuLP, per variable and constraint")


def _pulp() -> Any:
    if "pulp" not in sys.modules:
        # PuLP puts highspy's HiGHS in the global symbol namespace: OR-Tools must be bound to
        # its own HiGHS first (see router.solvers.exact.ortools.load_mathopt_core). This runs
        # in the engine's child process only.
        with contextlib.suppress(ImportError):
            from router.solvers.exact.ortools import load_mathopt_core

            load_mathopt_core()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pulp
    return pulp


def _cbc_binary() -> str | None:
    """PuLP's bundled CBC (or one on the PATH), found without importing PuLP."""
    spec = importlib.util.find_spec("pulp")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "solverdir" / "cbc"
    for cand in sorted(base.glob("*/*/cbc*")):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("cbc")


def _cbc_unavailable() -> str | None:
    if importlib.util.find_spec("pulp") is None:
        return "PuLP is not installed; pip install pulp"
    if _cbc_binary() is None:
        return "no CBC executable: PuLP's bundled CBC is missing (pip install 'pulp[cbc]')"
    return None


def _highs_unavailable() -> str | None:
    if importlib.util.find_spec("pulp") is None:
        return "PuLP is not installed; pip install pulp"
    if importlib.util.find_spec("highspy") is None:
        return "highspy is not installed; pip install highspy"
    spec = importlib.util.find_spec("pulp")  # (a dotted name would import PuLP to look)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not any((Path(loc) / "apis" / "highs_api.py").is_file() for loc in locations):
        return "this PuLP has no HiGHS interface (PuLP >= 2.8 needed)"
    return None


def _cbc_solver_class() -> Any:
    pulp = _pulp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in (getattr(pulp, "PULP_CBC_CMD", None), getattr(pulp, "COIN_CMD", None)):
            if cls is not None and cls(msg=False).available():
                return cls
    return None


def pulp_problem(model: MipModel, name: str = "router") -> tuple[Any, list[Any]]:
    """The model as a ``pulp.LpProblem`` and its variables (column order)."""
    pulp = _pulp()
    prob = pulp.LpProblem(re.sub(r"[^A-Za-z0-9_]", "_", name) or "router", pulp.LpMinimize)
    lbs, ubs = model.col_lb.tolist(), model.col_ub.tolist()
    ints = model.col_int.tolist()
    cont, integer = pulp.LpContinuous, pulp.LpInteger
    add = prob.add_variable
    cols = [add(f"v{j}", lbs[j], ubs[j], integer if ints[j] else cont)
            for j in range(model.n_cols)]
    nz = np.flatnonzero(model.obj).tolist()
    objv = model.obj.tolist()
    prob.setObjective(pulp.LpAffineExpression([(cols[j], objv[j]) for j in nz]))
    row_vars = [cols[c] for c in model.a_col.tolist()]
    vals = model.a_val.tolist()
    ptr = model.row_ptr().tolist()
    lo, hi = model.row_lb.tolist(), model.row_ub.tolist()
    expr_cls, con_cls = pulp.LpAffineExpression, pulp.LpConstraint
    eq, le, ge = pulp.LpConstraintEQ, pulp.LpConstraintLE, pulp.LpConstraintGE
    add_con = prob.addConstraint
    for r in range(model.n_rows):
        i0, i1 = ptr[r], ptr[r + 1]
        expr = expr_cls(zip(row_vars[i0:i1], vals[i0:i1], strict=True))
        if lo[r] == hi[r]:
            con = con_cls(expr, eq, f"r{r}", hi[r])
        elif math.isinf(lo[r]):
            con = con_cls(expr, le, f"r{r}", hi[r])
        elif math.isinf(hi[r]):
            con = con_cls(expr, ge, f"r{r}", lo[r])
        else:  # ranged rows do not occur in this model
            add_con(con_cls(expr_cls(expr), ge, f"r{r}_lo", lo[r]))
            con = con_cls(expr, le, f"r{r}", hi[r])
        add_con(con)
    return prob, cols


def _read_back_reserve(model: MipModel, seconds: float | None, params: MipParams) -> float:
    """Seconds kept for PuLP to read the answer back into its objects."""
    per = params.read_back_seconds_per_item if isinstance(params, PulpParams) else 4e-6
    return max(min(0.05, 0.02 * (seconds or 0.0)), per * (model.n_cols + model.n_rows))


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while PuLP creates its millions of small objects
    (none of them garbage yet): it would otherwise rescan them again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _values(cols: list[Any]) -> np.ndarray | None:
    vals = [v.varValue for v in cols]
    if any(v is None for v in vals):
        return None
    return np.asarray(vals, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# CBC

_LOWER = re.compile(r"^Lower bound:\s*([-+0-9.eE]+)", re.M)
_OBJ = re.compile(r"^Objective value:\s*([-+0-9.eE]+)", re.M)
_RESULT = re.compile(r"^Result - (.*)$", re.M)
_NODES = re.compile(r"^Enumerated nodes:\s*(\d+)", re.M)


def _cbc_run(model: MipModel, start: np.ndarray | None, seconds: float | None,
             setup: EngineSetup, workdir: str) -> EngineAnswer:
    t0 = time.perf_counter()
    pulp = _pulp()
    with _no_gc():
        prob, cols = pulp_problem(model)
    if start is not None:
        for v, val in zip(cols, start.tolist(), strict=True):
            v.setInitialValue(val, check=False)
    end = None if seconds is None else t0 + seconds
    cls = _cbc_solver_class()
    log_path = os.path.join(workdir, "cbc.log")
    seed = int(setup.seed) % (2 ** 31 - 1) + 1
    cbc_options = [f"randomCbcSeed {seed}", f"randomSeed {seed}"]
    if setup.node_limit is not None:
        cbc_options.append(f"maxNodes {int(setup.node_limit)}")
    cbc_options += list(setup.params.engine_options)
    reserve = _read_back_reserve(model, seconds, setup.params)

    class _Cbc(cls):  # type: ignore[misc, valid-type]
        """The time limit is read when CBC is started, after PuLP has written its files."""

        started = 0.0

        @property
        def timeLimit(self) -> float | None:
            self.started = time.perf_counter()
            if end is None:
                return None
            # CBC looks at its clock between phases only: ask it to stop a little early
            left = 0.97 * (end - self.started) - reserve
            return max(0.01, round(left, 3))

        @timeLimit.setter
        def timeLimit(self, value: Any) -> None:
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = _Cbc(msg=setup.verbose, gapRel=max(0.0, float(setup.mip_gap)),
                      threads=max(1, int(setup.threads)), warmStart=start is not None,
                      logPath=log_path, options=cbc_options, timeMode="elapsed")
    solver.tmpDir = workdir
    build = time.perf_counter() - t0
    if end is not None and end - time.perf_counter() <= 0.0:
        return EngineAnswer(NO_SOLUTION, build_seconds=build, limit=Limit.TIME,
                            detail="no time left after building the model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver)
    text = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
    if setup.verbose:
        sys.stdout.write(text)
    total = time.perf_counter() - t0
    started = solver.started or t0 + build
    build = started - t0  # PuLP writing its files is part of handing the model over
    solve = total - build

    result = _RESULT.search(text)
    result_s = result.group(1).strip() if result else ""
    has_solution = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    values = _values(cols) if has_solution else None
    bound = None
    m = _LOWER.search(text)
    if m:
        bound = float(m.group(1))
    if prob.status == pulp.LpStatusOptimal and result_s.startswith("Optimal"):
        status = OPTIMAL
        if bound is None:
            om = _OBJ.search(text)
            if om and "gap" not in result_s.lower():
                bound = float(om.group(1))  # proven optimal within CBC's tolerances
    elif prob.status == pulp.LpStatusInfeasible or result_s.lower().startswith("linear relax"):
        status = INFEASIBLE
    elif values is not None:
        status = FEASIBLE
    elif prob.status == pulp.LpStatusNotSolved:
        status = NO_SOLUTION
    else:
        status = ERROR
    low = result_s.lower()
    limit = Limit.TIME if "time" in low else Limit.WORK if "node" in low else Limit.NONE
    nodes = _NODES.search(text)
    return EngineAnswer(status, values, bound, build, solve,
                        nodes=int(nodes.group(1)) if nodes else 0,
                        detail=result_s or pulp.LpStatus.get(prob.status, ""), limit=limit)


# ----------------------------------------------------------------------------------------------
# HiGHS


def _highs_run(model: MipModel, start: np.ndarray | None, seconds: float | None,
               setup: EngineSetup, workdir: str) -> EngineAnswer:
    t0 = time.perf_counter()
    pulp = _pulp()
    import highspy

    with _no_gc():
        prob, cols = pulp_problem(model)
    reserve = _read_back_reserve(model, seconds, setup.params)
    end = None if seconds is None else t0 + seconds
    stamps: dict[str, float] = {}

    class _HiGHS(pulp.HiGHS):  # type: ignore[name-defined]
        def buildSolverModel(self, lp: Any) -> None:
            """PuLP's own build adds one column and one row at a time; the same model goes
            in here with one bulk call each, in the column and row order of ``cols``."""
            h = lp.solverModel
            for j, v in enumerate(cols):
                v.index = j
            ours = {id(v) for v in cols}
            extra = [v for v in lp.variables() if id(v) not in ours]  # PuLP's dummy variable
            for r, con in enumerate(lp._constraints.values()):
                con.index = r
            n = model.n_cols
            h.addCols(n, model.obj, model.col_lb, model.col_ub, 0,
                      np.zeros(n, dtype=np.int32), np.zeros(0, dtype=np.int32),
                      np.zeros(0, dtype=np.float64))
            if model.col_int.any():
                idx = np.flatnonzero(model.col_int).astype(np.int32)
                h.changeColsIntegrality(len(idx), idx, np.full(len(idx),
                                        highspy.HighsVarType.kInteger))
            inf = highspy.kHighsInf
            lo = np.where(np.isinf(model.row_lb), -inf, model.row_lb)
            hi = np.where(np.isinf(model.row_ub), inf, model.row_ub)
            ptr = model.row_ptr()
            h.addRows(model.n_rows, lo, hi, model.n_nonzeros, ptr[:-1].astype(np.int32),
                      model.a_col.astype(np.int32), model.a_val)
            for k, v in enumerate(extra):  # free-standing: in no row, no cost
                h.addCol(0.0, 0.0, 0.0, 0, [], [])
                v.index = n + k

        def callSolver(self, lp: Any) -> None:
            h = lp.solverModel
            if start is not None:
                h.setSolution(model.n_cols, np.arange(model.n_cols, dtype=np.int32),
                              np.asarray(start, dtype=np.float64))
            stamps["start"] = time.perf_counter()
            if end is not None:
                left = end - stamps["start"] - reserve
                if left <= 0.0:  # building used up the time: do not start HiGHS
                    stamps["end"] = stamps["start"]
                    stamps["skipped"] = 1.0
                    return
                h.setOptionValue("time_limit", left)
                if heavy_presolve(model.n_nonzeros, left, setup.params):
                    h.setOptionValue("presolve", "off")
            if setup.node_limit is not None:
                h.setOptionValue("mip_max_nodes", int(setup.node_limit))
            h.run()
            if start is not None and not _consistent(h, model):
                # HiGHS 1.16 returns the start instead of its own optimum when presolve
                # solves the whole model: solve again without the start
                stamps["rerun"] = 1.0
                h.clearSolver()
                if end is not None:
                    h.setOptionValue("time_limit", max(0.001, end - time.perf_counter()))
                h.run()
            stamps["end"] = time.perf_counter()

        def findSolutionValues(self, lp: Any) -> Any:
            if "skipped" in stamps:
                return pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound
            return super().findSolutionValues(lp)

    params: dict[str, Any] = {"random_seed": int(setup.seed) % (2 ** 31)}
    solver = _HiGHS(msg=setup.verbose, gapRel=max(0.0, float(setup.mip_gap)),
                    threads=max(1, int(setup.threads)), **params)
    if end is not None and end - time.perf_counter() <= 0.0:
        return EngineAnswer(NO_SOLUTION, build_seconds=time.perf_counter() - t0,
                            limit=Limit.TIME, detail="no time left after building the model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver)
    h = prob.solverModel
    build = stamps.get("start", time.perf_counter()) - t0
    solve = stamps.get("end", time.perf_counter()) - stamps.get("start", t0)
    if "skipped" in stamps:
        return EngineAnswer(NO_SOLUTION, None, None, build, solve, limit=Limit.TIME,
                            detail="HiGHS not started: building used up the time")
    ms = h.getModelStatus()
    info = h.getInfo()
    hs = highspy.HighsModelStatus
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = _values(cols) if has_solution else None
    if values is not None and len(values) != model.n_cols:
        values = None
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    if ms == hs.kOptimal:
        status = OPTIMAL
    elif ms in (hs.kInfeasible, hs.kUnboundedOrInfeasible):
        status = INFEASIBLE
    elif values is not None:
        status = FEASIBLE
    elif ms in (hs.kTimeLimit, hs.kIterationLimit, hs.kInterrupt, hs.kNotset):
        status = NO_SOLUTION
    else:
        status = ERROR
    notes: tuple[str, ...] = ()
    if "rerun" in stamps:
        notes = ("solved again without the start (HiGHS returned the start)",)
    if values is not None and not _consistent(h, model):
        values, status = None, ERROR
    limit = {hs.kTimeLimit: Limit.TIME, hs.kSolutionLimit: Limit.WORK,
             hs.kIterationLimit: Limit.WORK, hs.kInterrupt: Limit.INTERRUPTED}.get(ms, Limit.NONE)
    return EngineAnswer(status, values, bound, build, solve,
                        nodes=max(0, int(info.mip_node_count)),
                        detail=h.modelStatusToString(ms), limit=limit, notes=notes)


def _consistent(h: Any, model: MipModel) -> bool:
    """Do the column values HiGHS returns have the objective value it reports?"""
    info = h.getInfo()
    if info.primal_solution_status != 2 or not math.isfinite(info.objective_function_value):
        return True
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)[:model.n_cols]
    obj = float(np.dot(model.obj, values))
    return abs(obj - info.objective_function_value) <= 1e-6 * max(1.0, abs(obj))


def _backend(name: str, run_engine: Any, label: str, per_nonzero: str) -> Any:
    def solve(problem: Problem, run: Run) -> Outcome:
        p = run.params if isinstance(run.params, PulpParams) else PulpParams()
        return solve_mip(name, problem, run.but(params=p), run_engine, label,
                         getattr(p, per_nonzero))

    solve.__name__ = f"solve_{name.replace('-', '_')}"
    return solve


_NODE = "a branch-and-bound node"
solve_pulp_cbc = register(
    "pulp-cbc", "exact MIP: CBC through PuLP, warm-started from greedy", "mip",
    params=PulpParams, available=_cbc_unavailable, work_unit=_NODE)(
    _backend("pulp-cbc", _cbc_run, "CBC via PuLP", "cbc_seconds_per_nonzero"))
solve_pulp_highs = register(
    "pulp-highs", "exact MIP: HiGHS through PuLP (highspy), warm-started from greedy", "mip",
    params=PulpParams, available=_highs_unavailable, work_unit=_NODE)(
    _backend("pulp-highs", _highs_run, "HiGHS via PuLP", "highs_seconds_per_nonzero"))
