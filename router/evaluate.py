"""Cost and feasibility of a solution in compiled space (units ``x`` per line-arc).

Solvers use this to score and check their own candidates quickly. It is not the verifier:
:mod:`router.verify` rechecks every plan from the instance itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.compile import Problem


@dataclass(frozen=True)
class Cost:
    package: float
    unit: float
    unfilled: float

    @property
    def total(self) -> float:
        return self.package + self.unit + self.unfilled


def arc_units(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Units shipped on each arc."""
    return np.bincount(problem.e_arc, weights=x, minlength=problem.n_arcs)


def line_shipped(problem: Problem, x: np.ndarray) -> np.ndarray:
    return np.bincount(problem.e_line, weights=x, minlength=problem.n_lines).astype(np.int64)


def cost(problem: Problem, x: np.ndarray, shipped: np.ndarray | None = None) -> Cost:
    """Cost of ``x`` (unfilled units of a must-fill line cost ``inf``); ``shipped``: the
    units shipped per line (:func:`line_shipped`), where the caller has them already."""
    used = arc_units(problem, x) > 0
    if shipped is None:
        shipped = line_shipped(problem, x)
    unfilled = problem.line_qty - shipped
    pen = problem.line_penalty
    with np.errstate(invalid="ignore"):
        unf = float(np.where(unfilled > 0, unfilled * pen, 0.0).sum())
    return Cost(package=float(problem.arc_cost[used].sum()),
                unit=float(np.dot(x, problem.e_unit_cost)), unfilled=unf)


def objective(problem: Problem, x: np.ndarray) -> float:
    return cost(problem, x).total


def violations(problem: Problem, x: np.ndarray, tol: float = 1e-6) -> list[str]:
    """Every constraint of the compiled problem that ``x`` breaks (empty when feasible)."""
    out: list[str] = []
    x = np.asarray(x)
    if x.shape != (problem.n_line_arcs,):
        return [f"x has shape {x.shape}, expected ({problem.n_line_arcs},)"]
    if (x < 0).any():
        out.append("negative units")
    if (x > problem.e_ub).any():
        out.append("units above a line-arc bound")
    shipped = line_shipped(problem, x)
    if (shipped > problem.line_qty).any():
        out.append("a line ships more than its quantity")
    must = np.isinf(problem.line_penalty)
    if (must & (shipped < problem.line_qty)).any():
        out.append("a must-fill line is not filled")
    pool_used = np.bincount(problem.e_pool, weights=x, minlength=len(problem.pool_qty))
    if (pool_used > problem.pool_qty + tol).any():
        out.append("a node ships more of a SKU than it has available")
    used = arc_units(problem, x) > 0
    node_pk = np.bincount(problem.arc_node[used], minlength=problem.n_nodes)
    if (node_pk > problem.node_max_packages + tol).any():
        out.append("a node exceeds its package capacity")
    node_use = np.bincount(problem.e_node, weights=x * problem.e_use, minlength=problem.n_nodes)
    if (node_use > problem.node_capacity + tol).any():
        out.append("a node exceeds its unit capacity")
    order_pk = np.bincount(problem.arc_order[used], minlength=problem.n_orders)
    if (order_pk > problem.order_max_packages).any():
        out.append("an order exceeds its package limit")
    return out


def is_feasible(problem: Problem, x: np.ndarray) -> bool:
    return not violations(problem, x)
