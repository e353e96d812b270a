"""A linear program solved by HiGHS (highspy) in a child process killed at the deadline
(:mod:`router.solvers.exact.isolate`): for the small LPs the bounds and prices need (the
transportation relaxation of the stock pools, and the like). highspy is imported in the
engine's process only, never in the caller's."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.solvers.exact.isolate import run_isolated

INF = float("inf")


@dataclass(frozen=True)
class ColumnLp:
    """``min cost.x  s.t.  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper``, A
    by columns (``start`` (C+1,), ``index``, ``value``); infinite bounds as +-inf."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class LpAnswer:
    """``optimal`` / ``limit`` (stopped with or without a dual solution) / ``infeasible`` /
    ``failed``; the column values and row duals when HiGHS had them (duals of ``<=`` rows of a
    minimum are <= 0, HiGHS's convention)."""

    status: str
    objective: float | None = None
    col_value: np.ndarray | None = None
    row_dual: np.ndarray | None = None
    detail: str = ""
    seconds: float = 0.0


def quiet_highs(highspy: Any) -> Any:
    """A HiGHS instance whose output is off before HiGHS writes anything. highspy's Python class
    (``highspy.Highs``) sets up its callbacks in its constructor, and HiGHS prints its banner on
    that first call, before any option can be set; the binding it wraps
    (``highspy._core._Highs``) has every method used here and no such call, so the option comes
    first. Where a version does not expose the binding, the Python class is used."""
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    h = core() if core is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def available() -> bool:
    return importlib.util.find_spec("highspy") is not None


def solve_lp(lp: ColumnLp, time_limit: float | None, hard_deadline: float | None,
             threads: int = 1) -> LpAnswer:
    """Solve ``lp`` within ``time_limit`` seconds (HiGHS's own limit); the child is killed at
    ``hard_deadline`` (:func:`time.perf_counter` seconds) whatever HiGHS does."""
    t0 = time.perf_counter()
    res = run_isolated(_solve, lp, time_limit, threads, hard_deadline=hard_deadline,
                       label="HiGHS LP")
    if not res.ok or res.value is None:
        return LpAnswer("failed", detail=res.detail, seconds=time.perf_counter() - t0)
    ans: LpAnswer = res.value
    return LpAnswer(ans.status, ans.objective, ans.col_value, ans.row_dual, ans.detail,
                    time.perf_counter() - t0)


def _solve(lp: ColumnLp, time_limit: float | None, threads: int, workdir: str) -> LpAnswer:
    import highspy

    inf = highspy.kHighsInf
    m = highspy.HighsLp()
    m.num_col_ = len(lp.cost)
    m.num_row_ = len(lp.row_lower)
    m.col_cost_ = np.asarray(lp.cost, dtype=np.float64)
    m.col_lower_ = np.where(np.isinf(lp.col_lower), -inf, lp.col_lower)
    m.col_upper_ = np.where(np.isinf(lp.col_upper), inf, lp.col_upper)
    m.row_lower_ = np.where(np.isinf(lp.row_lower), -inf, lp.row_lower)
    m.row_upper_ = np.where(np.isinf(lp.row_upper), inf, lp.row_upper)
    m.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    m.a_matrix_.start_ = np.asarray(lp.start, dtype=np.int32)
    m.a_matrix_.index_ = np.asarray(lp.index, dtype=np.int32)
    m.a_matrix_.value_ = np.asarray(lp.value, dtype=np.float64)
    hs = highspy.HighsModelStatus
    for attempt in (threads, 0):
        h = quiet_highs(highspy)
        if attempt:
            h.setOptionValue("threads", int(attempt))
        if time_limit is not None:
            h.setOptionValue("time_limit", max(0.001, float(time_limit)))
        h.passModel(m)
        h.run()
        ms = h.getModelStatus()
        # HiGHS refuses to run ("Not Set") when this process was forked from one that ran
        # HiGHS with another number of threads (its scheduler is fixed at its first run):
        # then once more with HiGHS's default, what such a caller most likely used
        if ms != hs.kNotset or not attempt:
            break
    info = h.getInfo()
    sol = h.getSolution()
    has_dual = info.dual_solution_status == 2  # kSolutionStatusFeasible
    has_primal = info.primal_solution_status == 2
    status = ("optimal" if ms == hs.kOptimal else
              "infeasible" if ms in (hs.kInfeasible, hs.kUnboundedOrInfeasible) else
              "limit" if ms in (hs.kTimeLimit, hs.kIterationLimit, hs.kInterrupt) else "failed")
    return LpAnswer(status, float(info.objective_function_value) if has_primal else None,
                    np.asarray(sol.col_value, dtype=np.float64) if has_primal else None,
                    np.asarray(sol.row_dual, dtype=np.float64) if has_dual else None,
                    h.modelStatusToString(ms))
