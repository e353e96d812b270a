"""Assignment batches (GAP files): every order one unit of one line, one resource per node.

Here a plan is one node per order, and the moves of the GAP literature apply directly, on
dense (node x order) matrices: *shift* (move an order to another node) and *swap* (exchange
the nodes of two orders).

Where the compiled loops are enabled (:mod:`router.jit`), both :func:`repair` and
:func:`improve` run a tabu search over shift, swap and ejection moves on the cost plus a
weighted capacity overload (strategic oscillation, as in the GAP literature): every move
evaluates all shifts, and for ``TabuParams.swaps`` orders drawn at random their swaps and
their ejection chains of two (the order takes another order's node, that one moves on to
its best third node; ``TabuParams.eject``), and takes the best one not tabu (a job may not
return to the node it left for a random tenure, unless that gives a feasible plan better
than the best); the weight of a node's overload grows while it is overloaded, and the
weights of the nodes within capacity shrink while the whole plan is feasible
(``TabuParams.hold``; shrinking them while another node is overloaded lets the search stay
overloaded for good), so the search crosses the infeasible region and comes back; after
``TabuParams.restart`` moves per order without a better plan it resumes from its best plan
with fresh weights and tabu list. :func:`repair` stops at the first feasible plan;
:func:`improve` keeps the best feasible plan until its budget ends (a clock checked every
``TabuParams.chunk`` moves, or a number of moves: one work unit each, so that a work budget
repeats exactly).

Their numpy twins (``ROUTER_JIT=0``): :func:`repair` minimises the capacity overload (then
the cost) with shift and swap moves and seeded random kicks; :func:`improve` is a
best-improvement local search over feasible shift and swap moves with iterated perturbation
until the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router import jit
from router.compile import Problem
from router.contract import Budget, Params, param
from router.jit import njit

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
        self._t: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def transposed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order x node) copies of cost, resource and eligibility for the compiled loops
        (an order's nodes contiguous)."""
        if self._t is None:
            self._t = (np.ascontiguousarray(self.cost.T), np.ascontiguousarray(self.res.T),
                       np.ascontiguousarray(self.ok.T))
        return self._t

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

    Unassigned orders first go where the overload they cause is least; then the tabu search
    (compiled) runs until the first feasible plan, or (numpy) shift and swap moves reduce the
    total overload (ties broken by cost), with a random kick whenever no move helps. Returns
    ``None`` if the overload cannot be removed in time (or ``max_iter`` moves)."""
    start = place_unassigned(M, assign)
    if start is None:
        return None
    if jit.ENABLED:
        search = Tabu(M, start, int(rng.integers(2**31)))
        search.run(deadline, max_iter, stop_when_feasible=True)
        return search.best if search.found else None
    a = start
    j_idx = np.arange(M.n)
    load = M.load(a)
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
    """A better feasible assignment than the feasible ``assign`` (never a worse one).

    Compiled: the tabu search until the deadline or ``max_rounds`` moves (without either,
    or without ``kick``, ``TabuParams.polish`` moves per order). Numpy: best-improvement
    shift/swap local search; then, while time is left (and ``kick``), iterated
    perturbation: a few random feasible shifts, descend, keep the best."""
    if jit.ENABLED:
        search = Tabu(M, assign, int(rng.integers(2**31)))
        moves = max_rounds
        if not kick or (deadline is None and max_rounds is None):
            polish = int(TABU.polish * M.n)
            moves = polish if moves is None else min(moves, polish)
        search.run(deadline, moves)
        return search.best if search.found and search.best_cost_value < M.total(assign) - 1e-9 \
            else assign.copy()
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


# ----------------------------------------------------------------------------------------
# the compiled tabu search


@dataclass(frozen=True)
class TabuParams(Params):
    """Tuning of the tabu search of assignment batches (one work unit = one move)."""

    solver = "tabu"
    swaps: int = param(32, lo=0, doc="orders whose swaps are evaluated at every move")
    tenure: float = param(0.0125, lo=0.0, doc="tabu tenure: between this and twice this "
                                              "times the orders (at least 1 and 2 moves)")
    up: float = param(1.02, lo=1.0, doc="a node's overload weight grows by this factor per "
                                        "move while the node is overloaded")
    down: float = param(0.995, lo=0.0, hi=1.0, doc="and shrinks by this one while it is not")
    chunk: int = param(256, lo=1, doc="moves between two looks at the clock")
    polish: float = param(0.25, lo=0.0, doc="moves per order when no budget is given")
    eject: bool = param(True, doc="ejection chains of two orders too: an order drawn for "
                                  "swaps takes another's node, that one going to its best "
                                  "third node (not tabu)")
    restart: float = param(5.0, lo=0.0, doc="moves per order without a better plan after "
                                            "which the search resumes from its best plan "
                                            "with fresh weights and tabu list (0: never)")
    hold: bool = param(True, doc="the weights of nodes within capacity shrink only while the "
                                 "whole plan is feasible (else the search can stay overloaded "
                                 "somewhere for good)")


TABU = TabuParams()


def place_unassigned(M: Matrices, assign: np.ndarray) -> np.ndarray | None:
    """Orders without a node go where the overload they add is least (then the cost)."""
    a = assign.copy()
    load = M.load(a)
    for j in np.flatnonzero(a < 0).tolist():
        cand = np.flatnonzero(M.ok[:, j])
        if len(cand) == 0:
            return None
        over = np.maximum(0.0, load[cand] + M.res[cand, j] - M.cap[cand])
        i = int(cand[np.lexsort((M.cost[cand, j], over))[0]])
        a[j] = i
        load[i] += M.res[i, j]
    return a


class Tabu:
    """The state of one tabu search (kept across the chunks of moves that the clock cuts)."""

    def __init__(self, M: Matrices, assign: np.ndarray, seed: int,
                 params: TabuParams | None = None) -> None:
        self.M = M
        self.params = params or TABU
        self.costT, self.resT, self.okT = M.transposed()
        self.a = np.asarray(assign, dtype=np.int64).copy()
        self.load = M.load(self.a)
        ok = M.ok
        ratio = M.cost[ok] / np.maximum(M.res[ok], 1e-9)
        self.base = float(ratio.mean()) if ratio.size else 1.0
        self.alpha = np.full(M.m, self.base)
        self.tabu = np.zeros((M.n, M.m), dtype=np.int64)
        self.cur = float(M.total(self.a))
        self.best = self.a.copy()
        feasible = bool(np.all(self.load <= M.cap + 1e-9))
        self.best_cost = np.array([self.cur if feasible else np.inf])
        self.moves = 0
        self.improved_at = 0  # the move that last found a better plan
        self.restarts = 0
        self.seed = seed
        n = M.n
        self.ten_lo = max(1, int(self.params.tenure * n))
        self.ten_hi = max(self.ten_lo + 1, int(2 * self.params.tenure * n))
        # each order's best two ejection places and their costs (filled by every move)
        self._scratch = (np.empty(n), np.empty(n), np.empty(n, dtype=np.int64),
                         np.empty(n, dtype=np.int64))

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.best_cost[0]))

    @property
    def best_cost_value(self) -> float:
        return float(self.best_cost[0])

    def run(self, deadline: Budget | None, moves: int | None,
            stop_when_feasible: bool = False) -> None:
        """Moves until the deadline, ``moves`` more moves, or (``stop_when_feasible``) the
        first feasible plan; a search that finds no admissible move stops."""
        pr = self.params
        limit = None if moves is None else self.moves + max(0, int(moves))
        if stop_when_feasible and self.found:
            return
        while limit is None or self.moves < limit:
            if deadline is not None and deadline.expired():
                return
            k = pr.chunk if limit is None else min(pr.chunk, limit - self.moves)
            if limit is None and deadline is None:  # pragma: no cover  (callers give one)
                return
            rng = np.random.default_rng((self.seed, self.moves))
            picks = rng.integers(0, self.M.n, size=(k, pr.swaps))
            tenures = rng.integers(self.ten_lo, self.ten_hi + 1, size=k)
            before = self.best_cost[0]
            done, self.cur, stuck = _tabu(
                self.costT, self.resT, self.okT, self.M.cap, self.a, self.load, self.alpha,
                self.tabu, self.moves, k, picks, tenures, pr.up, pr.down, self.base,
                self.best, self.best_cost, self.cur, stop_when_feasible, pr.hold, pr.eject,
                *self._scratch)
            if self.best_cost[0] < before:
                self.improved_at = done
            self.moves = done
            if stuck or (stop_when_feasible and self.found):
                return
            if pr.restart > 0 and self.found \
                    and self.moves - self.improved_at >= pr.restart * self.M.n:
                self._resume_from_best()

    def _resume_from_best(self) -> None:
        """Intensify: back to the best plan, with the weights and tabu list of a new search."""
        self.a[:] = self.best
        self.load[:] = self.M.load(self.a)
        self.cur = float(self.M.total(self.a))
        self.alpha[:] = self.base
        self.tabu[:] = 0
        self.improved_at = self.moves
        self.restarts += 1


def warm_up() -> None:
    """Load (or, the first time after an install, compile) the tabu search's loop on a
    2-node, 3-order GAP batch, so that the first assignment batch does not pay for it within
    its budget."""
    from router.compile import compile_problem
    from router.io.read import parse_gap

    M = Matrices(compile_problem(parse_gap("2 3  1 2 3  2 1 3  1 1 1  1 1 1  2 2", "warm-up")))
    Tabu(M, np.array([0, 0, 1], dtype=np.int64), 0).run(None, 2)


@njit
def _tabu(costT, resT, okT, cap, a, load, alpha, tabu, it0, iters, picks, tenures, up, down,
          base, best, best_cost, cur, stop_feasible, hold, eject, e1, e2, k1,
          k2):  # pragma: no cover  (compiled)
    """``iters`` moves of the tabu search from move number ``it0`` (module docstring):
    move ``t`` evaluates the swaps of the orders ``picks[t]`` and makes its move tabu for
    ``tenures[t]`` moves. Updates the assignment ``a``, the loads, weights and tabu list in
    place, and ``best`` / ``best_cost[0]`` whenever a better feasible plan is met; returns
    (move number reached, current cost, no admissible move)."""
    n, m = costT.shape
    n_swap = picks.shape[1]
    end = it0 + iters
    it = it0
    while it < end:
        bd = np.inf
        bj = -1
        bk = -1
        bj2 = -1
        bk2 = -1
        for j in range(n):
            i = a[j]
            oi = max(0.0, load[i] - cap[i])
            ni = max(0.0, load[i] - resT[j, i] - cap[i])
            di = alpha[i] * (ni - oi) - costT[j, i]
            if eject:
                # and the best two places (not tabu) to eject the order to, at these loads
                e1[j] = np.inf
                e2[j] = np.inf
                k1[j] = -1
                k2[j] = -1
            for k in range(m):
                if k == i or not okT[j, k]:
                    continue
                ok_ = max(0.0, load[k] - cap[k])
                nk = max(0.0, load[k] + resT[j, k] - cap[k])
                e = costT[j, k] + alpha[k] * (nk - ok_)  # the order's cost of joining k
                d = di + e
                if eject and tabu[j, k] <= it:
                    if e < e1[j]:
                        e2[j] = e1[j]
                        k2[j] = k1[j]
                        e1[j] = e
                        k1[j] = k
                    elif e < e2[j]:
                        e2[j] = e
                        k2[j] = k
                if d < bd - 1e-12:
                    if tabu[j, k] > it:
                        # aspiration: a feasible plan better than the best
                        if not (nk <= 1e-9 and ni <= 1e-9
                                and cur + costT[j, k] - costT[j, i] < best_cost[0] - 1e-9):
                            continue
                        feas = True
                        for t in range(m):
                            if t != i and t != k and load[t] > cap[t] + 1e-9:
                                feas = False
                                break
                        if not feas:
                            continue
                    bd = d
                    bj = j
                    bk = k
                    bj2 = -1
        for t in range(n_swap):
            j1 = picks[it - it0, t]
            i1 = a[j1]
            o1 = max(0.0, load[i1] - cap[i1])
            out1 = alpha[i1] * (max(0.0, load[i1] - resT[j1, i1] - cap[i1]) - o1) \
                - costT[j1, i1]
            for j2 in range(n):
                i2 = a[j2]
                if i2 == i1 or not okT[j1, i2] or tabu[j1, i2] > it:
                    continue
                nl2 = load[i2] - resT[j2, i2] + resT[j1, i2]
                in2 = costT[j1, i2] - costT[j2, i2] \
                    + alpha[i2] * (max(0.0, nl2 - cap[i2]) - max(0.0, load[i2] - cap[i2]))
                # j2's move: to j1's node (a swap), or (ejection) to its best third node
                dk = np.inf
                kk = -1
                if okT[j2, i1] and tabu[j2, i1] <= it:
                    nl1 = load[i1] - resT[j1, i1] + resT[j2, i1]
                    d = (costT[j2, i1] - costT[j1, i1] + in2
                         + alpha[i1] * (max(0.0, nl1 - cap[i1]) - o1))
                    if d < bd - 1e-12:
                        dk = d
                        kk = i1
                if eject:
                    k3 = k1[j2]
                    e = e1[j2]
                    if k3 == i1:
                        k3 = k2[j2]
                        e = e2[j2]
                    if k3 >= 0:
                        d = out1 + in2 + e
                        if d < min(bd, dk) - 1e-12:
                            dk = d
                            kk = k3
                if kk >= 0:
                    bd = dk
                    bj = j1
                    bk = i2
                    bj2 = j2
                    bk2 = kk
        if bj < 0:
            return it, cur, True
        ten = tenures[it - it0]
        if bj2 < 0:
            i = a[bj]
            load[i] -= resT[bj, i]
            load[bk] += resT[bj, bk]
            cur += costT[bj, bk] - costT[bj, i]
            a[bj] = bk
            tabu[bj, i] = it + ten
        else:
            # j1 to j2's node, j2 to bk2 (j1's node: a swap)
            i1 = a[bj]
            i2 = a[bj2]
            load[i1] -= resT[bj, i1]
            load[i2] += resT[bj, i2] - resT[bj2, i2]
            load[bk2] += resT[bj2, bk2]
            cur += costT[bj, i2] + costT[bj2, bk2] - costT[bj, i1] - costT[bj2, i2]
            a[bj] = i2
            a[bj2] = bk2
            tabu[bj, i1] = it + ten
            tabu[bj2, i2] = it + ten
        it += 1
        feas = True
        for i in range(m):
            if load[i] > cap[i] + 1e-9:
                feas = False
                alpha[i] *= up
        if feas or not hold:
            for i in range(m):
                if load[i] <= cap[i] + 1e-9:
                    alpha[i] = max(alpha[i] * down, 1e-6 * base)
        if feas and cur < best_cost[0] - 1e-9:
            # the running cost drifts by rounding: recompute it exactly
            exact = 0.0
            for j in range(n):
                exact += costT[j, a[j]]
            cur = exact
            if cur < best_cost[0] - 1e-9:
                best_cost[0] = cur
                for j in range(n):  # (not a slice copy: numba would compile its shape checks)
                    best[j] = a[j]
            if stop_feasible:
                return it, cur, False
    return it, cur, False
