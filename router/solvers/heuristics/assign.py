"""Assignment batches (GAP files): every order one unit of one line, one resource per node.

Here a plan is one node per order, and the moves of the GAP literature apply directly, on
dense (node x order) matrices: *shift* (move an order to another node) and *swap* (exchange
the nodes of two orders). :func:`repair` completes a partial assignment by minimising the
capacity overload (then the cost) with shift and swap moves and seeded random kicks;
:func:`improve` is a best-improvement local search over feasible shift and swap moves with
iterated perturbation until the deadline.
"""

from __future__ import annotations

import numpy as np

from router.compile import Problem
from router.contract import Budget

BIG = 1e18


def is_assignment(p: Problem) -> bool:
    """Single-unit, single-line orders whose only shared limit is the node resource."""
    return (p.n_lines == p.n_orders and bool((p.line_qty == 1).all())
            and not np.isfinite(p.pool_qty).any() and not np.isfinite(p.node_max_packages).any())


class Matrices:
    """Dense cost and resource matrices (node x order; BIG where the node cannot serve)."""

    def __init__(self, p: Problem) -> None:
        m, n = p.n_nodes, p.n_orders
        self.m, self.n = m, n
        e_node = p.arc_node[p.e_arc]
        self.cost = np.full((m, n), BIG)
        self.cost[e_node, p.e_line] = p.arc_cost[p.e_arc] + p.e_unit_cost
        self.res = np.full((m, n), BIG)
        self.res[e_node, p.e_line] = p.e_use
        self.eid = np.full((m, n), -1, dtype=np.int64)
        self.eid[e_node, p.e_line] = np.arange(p.n_line_arcs)
        self.ok = self.eid >= 0
        self.cap = p.node_capacity.astype(np.float64)
        self.penalty = p.line_penalty  # inf for GAP

    def to_x(self, p: Problem, assign: np.ndarray) -> np.ndarray:
        x = np.zeros(p.n_line_arcs, dtype=np.int64)
        j = np.flatnonzero(assign >= 0)
        x[self.eid[assign[j], j]] = 1
        return x

    def from_x(self, p: Problem, x: np.ndarray) -> np.ndarray:
        assign = np.full(self.n, -1, dtype=np.int64)
        e = np.flatnonzero(x > 0)
        assign[p.e_line[e]] = p.arc_node[p.e_arc[e]]
        return assign

    def load(self, assign: np.ndarray) -> np.ndarray:
        j = np.flatnonzero(assign >= 0)
        return np.bincount(assign[j], weights=self.res[assign[j], j], minlength=self.m)

    def total(self, assign: np.ndarray) -> float:
        j = np.arange(self.n)
        return float(self.cost[assign, j].sum())


def repair(M: Matrices, assign: np.ndarray, rng: np.random.Generator,
           deadline: Budget | None = None, max_iter: int = 20_000) -> np.ndarray | None:
    """Assign every order within every capacity, starting from ``assign`` (-1 = none).

    Unassigned orders first go where the overload they cause is least; then shift and swap
    moves reduce the total overload (ties broken by cost), with a random kick whenever no
    move helps. Returns ``None`` if the overload cannot be removed in time."""
    a = assign.copy()
    j_idx = np.arange(M.n)
    load = M.load(a)
    for j in np.flatnonzero(a < 0).tolist():
        cand = np.flatnonzero(M.ok[:, j])
        if len(cand) == 0:
            return None
        over = np.maximum(0.0, load[cand] + M.res[cand, j] - M.cap[cand])
        i = int(cand[np.lexsort((M.cost[cand, j], over))[0]])
        a[j] = i
        load[i] += M.res[i, j]
    res_ok = np.where(M.ok, M.res, 0.0)
    for it in range(max_iter):
        excess = np.maximum(0.0, load - M.cap)
        if excess.sum() <= 1e-9:
            return a
        if deadline is not None and it % 16 == 0 and deadline.expired():
            return None
        r_cur = M.res[a, j_idx]
        c_cur = M.cost[a, j_idx]
        # shift every order to every node: change of overload and of cost
        new_k = np.maximum(0.0, load[:, None] + res_ok - M.cap[:, None]) - excess[:, None]
        new_i = np.maximum(0.0, load[a] - r_cur - M.cap[a]) - excess[a]
        d_ex = np.where(M.ok, new_k + new_i[None, :], BIG)
        d_ex[a, j_idx] = BIG
        d_c = M.cost - c_cur[None, :]
        best = np.min(d_ex)
        if best < -1e-9:
            cand = np.flatnonzero(d_ex.ravel() <= best + 1e-9)
            k = cand[np.argmin(d_c.ravel()[cand])]
            i_new, j = divmod(int(k), M.n)
            load[a[j]] -= r_cur[j]
            load[i_new] += M.res[i_new, j]
            a[j] = i_new
            continue
        # swap two orders on different nodes
        j1, j2 = _best_swap_overload(M, a, load, excess)
        if j1 >= 0:
            i1, i2 = a[j1], a[j2]
            load[i1] += M.res[i1, j2] - M.res[i1, j1]
            load[i2] += M.res[i2, j1] - M.res[i2, j2]
            a[j1], a[j2] = i2, i1
            continue
        # kick: an order of an overloaded node to a random other node that can take it
        over_nodes = np.flatnonzero(excess > 1e-9)
        i = int(rng.choice(over_nodes))
        js = np.flatnonzero(a == i)
        j = int(rng.choice(js))
        cand = np.flatnonzero(M.ok[:, j] & (np.arange(M.m) != i))
        if len(cand) == 0:
            continue
        k = int(rng.choice(cand))
        load[i] -= M.res[i, j]
        load[k] += M.res[k, j]
        a[j] = k
    return None


def _best_swap_overload(M: Matrices, a: np.ndarray, load: np.ndarray,
                        excess: np.ndarray) -> tuple[int, int]:
    j_idx = np.arange(M.n)
    i1 = a[:, None]
    i2 = a[None, :]
    r11 = M.res[a, j_idx][:, None]
    r22 = M.res[a, j_idx][None, :]
    r12 = M.res[a][:, :]  # res[a[j1], j2] as (j1, j2)
    r21 = r12.T  # res[a[j2], j1]
    ok = M.ok[a][:, :] & M.ok[a][:, :].T & (i1 != i2)
    new1 = np.maximum(0.0, load[i1] - r11 + r12 - M.cap[i1]) - excess[i1]
    new2 = np.maximum(0.0, load[i2] - r22 + r21 - M.cap[i2]) - excess[i2]
    d = np.where(ok, new1 + new2, BIG)
    k = int(np.argmin(d))
    if d.ravel()[k] < -1e-9:
        return divmod(k, M.n)
    return -1, -1


def improve(M: Matrices, assign: np.ndarray, rng: np.random.Generator,
            deadline: Budget | None = None, max_rounds: int | None = None,
            kick: bool = True) -> np.ndarray:
    """Best-improvement shift/swap local search on a feasible assignment; then, while time
    is left (and ``kick``), iterated perturbation: a few random feasible shifts, descend,
    keep the best."""
    best = _descend(M, assign.copy())
    best_cost = M.total(best)
    cur = best.copy()
    rounds = 0
    if deadline is None and max_rounds is None:
        kick = False  # no budget given: a single descent
    while kick and (deadline is None or not deadline.expired()):
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            break
        cur = _perturb(M, cur, rng, k=int(rng.integers(2, 6)))
        cur = _descend(M, cur, deadline)
        c = M.total(cur)
        if c < best_cost - 1e-9:
            best, best_cost = cur.copy(), c
        elif rng.random() < 0.5:
            cur = best.copy()
    return best


def _descend(M: Matrices, a: np.ndarray, deadline: Budget | None = None) -> np.ndarray:
    j_idx = np.arange(M.n)
    load = M.load(a)
    res_ok = np.where(M.ok, M.res, BIG)
    it = 0
    while True:
        it += 1
        if deadline is not None and it % 32 == 0 and deadline.expired():
            return a
        c_cur = M.cost[a, j_idx]
        r_cur = M.res[a, j_idx]
        fits = (load[:, None] + res_ok <= M.cap[:, None] + 1e-9)
        d_c = np.where(fits & M.ok, M.cost - c_cur[None, :], BIG)
        d_c[a, j_idx] = BIG
        k = int(np.argmin(d_c))
        if d_c.ravel()[k] < -1e-9:
            i_new, j = divmod(k, M.n)
            load[a[j]] -= r_cur[j]
            load[i_new] += M.res[i_new, j]
            a[j] = i_new
            continue
        # swaps
        i1 = a[:, None]
        i2 = a[None, :]
        r12 = M.res[a]
        okm = M.ok[a] & M.ok[a].T & (i1 != i2)
        fit1 = load[i1] - r_cur[:, None] + r12 <= M.cap[i1] + 1e-9
        fit2 = load[i2] - r_cur[None, :] + r12.T <= M.cap[i2] + 1e-9
        c12 = M.cost[a]
        d = np.where(okm & fit1 & fit2, c12 + c12.T - c_cur[:, None] - c_cur[None, :], BIG)
        k = int(np.argmin(d))
        if d.ravel()[k] < -1e-9:
            j1, j2 = divmod(k, M.n)
            i1s, i2s = a[j1], a[j2]
            load[i1s] += M.res[i1s, j2] - M.res[i1s, j1]
            load[i2s] += M.res[i2s, j1] - M.res[i2s, j2]
            a[j1], a[j2] = i2s, i1s
            continue
        return a


def _perturb(M: Matrices, a: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    a = a.copy()
    load = M.load(a)
    for _ in range(k):
        j = int(rng.integers(M.n))
        i = a[j]
        cand = np.flatnonzero(M.ok[:, j] & (load + M.res[:, j] <= M.cap + 1e-9)
                              & (np.arange(M.m) != i))
        if len(cand) == 0:
            # swap with a random order elsewhere if both fit
            j2 = int(rng.integers(M.n))
            i2 = a[j2]
            if (i2 != i and M.ok[i2, j] and M.ok[i, j2]
                    and load[i2] - M.res[i2, j2] + M.res[i2, j] <= M.cap[i2] + 1e-9
                    and load[i] - M.res[i, j] + M.res[i, j2] <= M.cap[i] + 1e-9):
                load[i] += M.res[i, j2] - M.res[i, j]
                load[i2] += M.res[i2, j] - M.res[i2, j2]
                a[j], a[j2] = i2, i
            continue
        kk = int(rng.choice(cand))
        load[i] -= M.res[i, j]
        load[kk] += M.res[kk, j]
        a[j] = kk
    return a


def regret_assign(M: Matrices, prices: np.ndarray | None = None,
                  by_capacity: bool = False) -> np.ndarray:
    """Martello-Toth regret construction: repeatedly the order whose best and second-best
    feasible node differ most (by desirability ``cost + price * resource``, or with
    ``by_capacity`` the share of the node's capacity it takes) takes its best.
    Orders with no feasible node left stay unassigned (-1)."""
    if by_capacity:
        des = np.where(M.ok, M.res, BIG) / np.maximum(M.cap, 1e-9)[:, None]
    else:
        des = M.cost + (0.0 if prices is None else
                        prices[:, None] * np.where(M.ok, M.res, 0.0))
    des = np.where(M.ok, des, BIG)
    a = np.full(M.n, -1, dtype=np.int64)
    load = np.zeros(M.m)
    todo = np.ones(M.n, dtype=bool)
    res_ok = np.where(M.ok, M.res, BIG)
    for _ in range(M.n):
        fits = load[:, None] + res_ok <= M.cap[:, None] + 1e-9
        d = np.where(fits, des, BIG)
        d[:, ~todo] = BIG
        if M.m >= 2:
            two = np.partition(d, 1, axis=0)[:2]
            first, second = two[0], two[1]
        else:
            first, second = d[0], np.full(M.n, BIG)
        feas = todo & (first < BIG / 2)
        if not feas.any():
            break
        reg = np.where(feas, np.where(second < BIG / 2, second - first, BIG / 4), -1.0)
        j = int(np.argmax(reg))
        i = int(np.argmin(d[:, j]))
        a[j] = i
        load[i] += M.res[i, j]
        todo[j] = False
    return a
