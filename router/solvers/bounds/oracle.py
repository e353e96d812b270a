"""The per-order subproblem of the Lagrangian relaxation, solved exactly and vectorised.

Pricing the coupling rows of the MIP model (:mod:`router.solvers.exact.model`) -- stock pools
``pi_p``, node package limits ``nu_n`` and node unit capacities ``mu_n``, all ``>= 0`` --
leaves one independent integer problem per order. With the priced rate of a unit on
line-arc ``e``, ``r_e = unit_cost_e + pi_pool(e) + mu_node(e) * use_e``, and the priced
cost of a package on arc ``a``, ``f_a = arc_cost_a + nu_node(a)``: open at most ``K_o`` (the
order's package limit) of the order's arcs and ship integer units on their line-arcs (at
most ``t_e = min(qty, pool stock, node capacity / use)`` each), every line's shipped plus
unfilled units equal to its quantity, at the least priced cost of packages, units and
unfilled penalties. The oracle returns that least cost ``Z_o`` for every order and one
optimal pattern. Kept per order: linking units to packages, at least one unit per package,
the order package limit and integrality; so the Lagrangian bound
``sum_o Z_o - sum_p pi_p stock_p - sum_n (nu_n packages_n + mu_n capacity_n)`` is at least the
LP relaxation's at the LP's optimal duals, and the best prices give at least the LP bound.

How each order is solved (all orders of a kind at once, with numpy):

1. One package: every arc's value is its package cost plus, per line, ``t_e`` units at the
   rate (where the rate is below the penalty) and the rest unfilled; the order takes the
   best arc, or ships nothing. This is exact when ``K_o = 1``, when the order has one arc,
   and for a single line that every line-arc can carry whole (a second package only adds
   cost). For every other order it is an upper bound ``U_o``.
2. The others (``multi`` orders) may gain from several packages. A lower bound ``B_o`` is the
   cost of every line filled from all of the order's line-arcs, no package paid; a set of
   packages ``S`` costs at least ``sum_{a in S} f_a + B_o``. Only arcs with ``f_a <= U_o - B_o``
   can be in a better plan, and only as many of them as their cheapest package costs fit in
   that margin: on priced sale-day batches that leaves few orders and few arcs (``active``).
3. Active orders whose every line-arc can carry its line whole (``partition``): an optimal
   plan serves each line from one arc (moving a split line to its cheaper arc never costs
   more), so a plan is a partition of the lines into 2..K groups, each shipped from the
   candidate arc that serves it best. For every group (bit mask) the best arc is a minimum
   over a dense (orders x candidate arcs) array; partitions of up to
   ``OracleLimits.partition_max_lines`` lines are enumerated once.
4. The other active orders (``enumerate``: a line that some line-arc cannot carry whole, or
   many lines): every set of 2..K candidate arcs, each line filled greedily from the
   cheapest of them (exact for integer quantities), while the sets per order stay within
   ``OracleLimits.enumerate_max_sets``.
5. Orders beyond that limit (``fallback``; none on the generated sale-day batches at the
   prices met so far): a valid but weaker value, the larger of ``min(U_o, B_o + f_(1) +
   f_(2))`` and the fractional knapsack of each line after spreading each package cost over
   the line-arcs of its arc (``f_a y_a >= sum_e f_a x_e / (n_a t_e)``); the one-package
   pattern is kept. :attr:`OracleAnswer.exact` is False when any order fell back.

All values are computed in floating point; the caller subtracts a rounding margin
(:func:`rounding_scale`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from math import comb

import numpy as np

from router.compile import Problem, expand_ranges


@dataclass(frozen=True)
class OracleLimits:
    """How far the exact per-order methods go (see the module docstring)."""

    partition_max_codes: int = 256  # part vectors per order (prod of (count + 1) per line)
    enumerate_max_sets: int = 20_000  # arc sets per active order
    chunk_cells: int = 2_000_000  # array cells per vectorised chunk (memory)

    def __post_init__(self) -> None:
        if not 1 <= self.partition_max_codes <= 4096:
            raise ValueError("partition_max_codes must be in 1..4096")
        if self.enumerate_max_sets < 0:
            raise ValueError("enumerate_max_sets must be >= 0")
        if self.chunk_cells < 1:
            raise ValueError("chunk_cells must be >= 1")


@dataclass(frozen=True)
class OracleAnswer:
    """Least priced cost per order and one optimal pattern.

    ``value[o]`` is ``inf`` where the order cannot be served at all (a line that must be
    filled has no source within the package limit). ``x`` holds units per line-arc and ``y``
    packages per arc (integral). ``exact`` is False when some order got the weaker fallback
    value (then its pattern is a feasible one-package pattern, not necessarily optimal).
    """

    value: np.ndarray  # (O,)
    x: np.ndarray  # (E,) float
    y: np.ndarray  # (A,) float
    exact: bool = True
    counts: dict[str, int] = field(default_factory=dict)


def tightened_ub(p: Problem) -> np.ndarray:
    """Units a line-arc can carry: line quantity, pool stock and the node's unit capacity
    divided by the use per unit (the bound of the MIP model's ``x`` columns)."""
    cap = p.node_capacity[p.e_node] if p.n_line_arcs else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap_units = np.where(p.e_use > 0, np.floor(cap / np.where(p.e_use > 0, p.e_use, 1.0)
                                                    + 1e-9), np.inf)
    ub = np.minimum(p.e_ub.astype(np.float64), cap_units)
    return np.maximum(ub, 0.0).astype(np.int64)


@lru_cache(maxsize=256)
def vector_partitions(shape: tuple[int, ...], kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """The ways to split the count vector ``shape`` into 2..``kmax`` non-zero parts.

    A part is a count vector ``j`` (``0 <= j_l <= shape_l``), coded in mixed radix with the
    first entry fastest (``code = sum_l j_l * prod_{i<l} (shape_i + 1)``). Returns a
    (splits x kmax) array of part codes (0 pads: the empty part) and the number of parts of
    each split. Parts are listed in non-increasing code order, so every multiset of parts
    appears once.
    """
    digits = _digits(tuple(shape))  # (codes, L)
    strides = np.cumprod([1] + [s + 1 for s in shape[:-1]])
    total = int(np.dot(np.asarray(shape, dtype=np.int64), strides))
    out: list[list[int]] = []

    def rec(rem: np.ndarray, max_code: int, parts: list[int]) -> None:
        rest = int(np.dot(rem, strides))
        if rest == 0:
            if len(parts) >= 2:
                out.append(parts + [0] * (kmax - len(parts)))
            return
        if len(parts) == kmax:
            return
        if len(parts) == kmax - 1:  # the last part must take everything left
            if 0 < rest <= max_code:
                rec(rem * 0, rest, parts + [rest])
            return
        fits = np.flatnonzero((digits[1:max_code + 1] <= rem).all(axis=1)) + 1
        for c in fits[::-1].tolist():
            rec(rem - digits[c], c, parts + [c])

    rec(np.asarray(shape, dtype=np.int64), total, [])
    arr = np.array(out, dtype=np.int64).reshape(-1, kmax)
    return arr, (arr > 0).sum(axis=1)


def n_parts_codes(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s + 1
    return n


@lru_cache(maxsize=256)
def arc_sets(n: int, k: int) -> np.ndarray:
    """Every subset of ``range(n)`` of size 2..k, as rows of indices padded with -1."""
    rows = [list(c) + [-1] * (k - len(c)) for size in range(2, k + 1)
            for c in itertools.combinations(range(n), size)]
    return np.array(rows, dtype=np.int64).reshape(-1, k)


def n_arc_sets(n: int, k: int) -> int:
    return sum(comb(n, s) for s in range(2, k + 1))


def _first_min(values: np.ndarray, seg: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Index of the first element of each segment reaching the segment's ``best`` (``seg``
    sorted, every segment non-empty)."""
    idx = np.flatnonzero(values <= best[seg])
    first = np.ones(len(idx), dtype=bool)
    first[1:] = seg[idx[1:]] != seg[idx[:-1]]
    return idx[first]


def priced_costs(p: Problem, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rates (E,) and package costs (A,) of ``p`` at prices ``lam`` over its coupling rows
    (stock pools, then node packages, then node units)."""
    n_p, n = len(p.pool_qty), p.n_nodes
    rate = p.e_unit_cost + lam[:n_p][p.e_pool] + lam[n_p + n:][p.e_node] * p.e_use
    fixed = p.arc_cost + lam[n_p:n_p + n][p.arc_node]
    return rate, fixed


class LagrangianOracle:
    """Exact per-order subproblems of one problem: structure built once, then
    :meth:`solve` for any rates and package costs."""

    def __init__(self, p: Problem, limits: OracleLimits | None = None) -> None:
        self.p = p
        self.limits = limits or OracleLimits()
        n_o, n_l, n_e, n_a = p.n_orders, p.n_lines, p.n_line_arcs, p.n_arcs
        self.ub = tightened_ub(p)
        q_e = p.line_qty[p.e_line] if n_e else np.zeros(0, dtype=np.int64)
        self.t = np.minimum(q_e, self.ub)  # units one line-arc can carry
        self.tf = self.t.astype(np.float64)
        self.usable = self.t > 0
        self.q = p.line_qty.astype(np.float64)
        self.q_e = q_e.astype(np.float64)
        pen = p.line_penalty
        self.must = np.isinf(pen)
        self.pen_fin = np.where(self.must, 0.0, pen)
        self.pen_e = self.pen_fin[p.e_line] if n_e else np.zeros(0)
        self.e_must = self.must[p.e_line] if n_e else np.zeros(0, dtype=bool)
        self.e_covers = self.usable & (self.t >= q_e)  # carries the whole line
        self.e_order = p.line_order[p.e_line] if n_e else np.zeros(0, dtype=np.int64)
        self.n_lines_o = np.diff(p.order_line_ptr)
        self.n_arcs_o = np.diff(p.order_arc_ptr)
        self.base = np.bincount(p.line_order, weights=self.q * self.pen_fin, minlength=n_o)
        self.n_must = np.bincount(p.line_order, weights=self.must.astype(np.float64),
                                  minlength=n_o).astype(np.int64)
        self.none = np.where(self.n_must == 0, self.base, np.inf)  # ship nothing
        self.k = p.order_max_packages.astype(np.int64)
        self.qty_o = np.bincount(p.line_order, weights=self.q, minlength=n_o)
        self.arc_usable = np.bincount(p.e_arc, weights=self.usable.astype(np.float64),
                                      minlength=n_a)
        self.arc_ok = self.arc_usable > 0

        split_e = self.usable & ~self.e_covers
        self.split_line = np.bincount(p.e_line, weights=split_e.astype(np.float64),
                                      minlength=n_l) > 0
        split_order = np.bincount(p.line_order, weights=self.split_line.astype(np.float64),
                                  minlength=n_o) > 0
        one_package = ((self.k <= 1) | (self.n_arcs_o < 2)
                       | ((self.n_lines_o == 1) & ~split_order))
        self.multi = np.flatnonzero(~one_package)
        # the count vector of every order: one item per whole line, one per unit of a
        # splittable line (see _partitions)
        c_line = np.where(self.split_line, p.line_qty, 1).astype(np.int64)
        local = np.arange(n_l) - p.order_line_ptr[p.line_order] if n_l else \
            np.zeros(0, dtype=np.int64)
        small = (local < 10) & (c_line <= 15)
        digits = np.where(small, c_line * (16.0 ** np.minimum(local, 9)), 0.0)
        self.shape_code = np.rint(np.bincount(p.line_order, weights=digits, minlength=n_o)
                                  ).astype(np.int64)
        log_codes = np.bincount(p.line_order, weights=np.log(c_line + 1.0), minlength=n_o)
        all_small = np.bincount(p.line_order, weights=(~small).astype(np.float64),
                                minlength=n_o) == 0
        self.partition_kind = all_small & (
            log_codes <= np.log(self.limits.partition_max_codes) + 1e-9)
        self.n_items = np.bincount(p.line_order, weights=c_line.astype(np.float64),
                                   minlength=n_o).astype(np.int64)
        # lines and line-arcs of multi orders (for the lower bound B_o)
        is_multi = np.zeros(n_o, dtype=bool)
        is_multi[self.multi] = True
        self.is_multi = is_multi
        ml = np.flatnonzero(is_multi[p.line_order]) if n_l else np.zeros(0, dtype=np.int64)
        self.m_whole = ml[~self.split_line[ml]]  # lines every line-arc carries whole
        self.m_split = ml[self.split_line[ml]]
        cnt = p.line_e_ptr[self.m_split + 1] - p.line_e_ptr[self.m_split]
        self.ms_e = expand_ranges(p.line_e_ptr[self.m_split], cnt)
        self.ms_seg = np.repeat(np.arange(len(self.m_split)), cnt)
        starts = p.line_e_ptr[self.m_whole]
        self.w_nonempty = p.line_e_ptr[self.m_whole + 1] > starts
        self.w_starts = starts[self.w_nonempty]
        self.in_whole = np.zeros(n_e, dtype=bool)
        if n_e:
            cnt = p.line_e_ptr[self.m_whole + 1] - starts
            self.in_whole[expand_ranges(starts, cnt)] = True
        # (multi order, local line, local arc) -> usable line-arc, -1 where there is none
        size = np.where(is_multi, self.n_lines_o * self.n_arcs_o, 0)
        self.tab_off = np.cumsum(size) - size
        self.tab = np.full(int(size.sum()), -1, dtype=np.int64)
        if n_e:
            me = np.flatnonzero(is_multi[self.e_order] & self.usable)
            o = self.e_order[me]
            self.tab[self.tab_off[o] + (p.e_line[me] - p.order_line_ptr[o]) * self.n_arcs_o[o]
                     + p.e_arc[me] - p.order_arc_ptr[o]] = me
        self.m_arcs = np.flatnonzero(is_multi[p.arc_order] & self.arc_ok) if n_a else \
            np.zeros(0, dtype=np.int64)

    @property
    def counts(self) -> dict[str, int]:
        return {"orders": self.p.n_orders, "multi_package": len(self.multi)}

    # ------------------------------------------------------------------------------------

    def solve(self, rate: np.ndarray, fixed: np.ndarray) -> OracleAnswer:
        """Least priced cost of every order at unit rates ``rate`` (E,) and package costs
        ``fixed`` (A,) (both at least the true, non-negative costs), and one optimal
        pattern."""
        p = self.p
        n_o, n_e, n_a = p.n_orders, p.n_line_arcs, p.n_arcs
        rate = np.asarray(rate, dtype=np.float64)
        fixed = np.asarray(fixed, dtype=np.float64)
        tf, q_e, pen_e = self.tf, self.q_e, self.pen_e
        any_must = bool(self.n_must.any())
        ship = self.usable & (self.e_must | (rate < pen_e)) if any_must else \
            self.usable & (rate < pen_e)
        # one line-arc alone: t_e units at the rate where it beats the penalty, rest unfilled
        delta = np.where(ship & ~self.e_must, tf * (rate - pen_e), 0.0)
        must_ok = self.e_must & self.e_covers
        must_cost = np.where(must_ok, q_e * rate, 0.0) if any_must else None

        # 1. one package
        x = np.zeros(n_e)
        y = np.zeros(n_a)
        value = self.none.copy()
        if n_a:
            v_a = fixed + self.base[p.arc_order] + np.bincount(
                p.e_arc, weights=delta if must_cost is None else delta + must_cost,
                minlength=n_a)
            ok_a = self.arc_ok
            if any_must:
                cov = np.bincount(p.e_arc, weights=must_ok.astype(np.float64), minlength=n_a)
                ok_a = ok_a & (cov >= self.n_must[p.arc_order] - 0.5)
            v_a = np.where(ok_a, v_a, np.inf)
            has = np.flatnonzero(self.n_arcs_o > 0)
            best_a = np.full(n_o, np.inf)
            best_a[has] = np.minimum.reduceat(v_a, p.order_arc_ptr[has])
            use = best_a < self.none
            value = np.where(use, best_a, self.none)
            win = _first_min(v_a, p.arc_order, np.where(use, best_a, -np.inf))
            y[win] = 1.0
            if n_e:
                xe = (y[p.e_arc] > 0) & ship
                x[xe] = tf[xe]
        counts = {"multi_package": len(self.multi), "active": 0, "partition": 0,
                  "enumerate": 0, "fallback": 0}
        if len(self.multi) == 0:
            return OracleAnswer(value, x, y, True, counts)

        # 2. lower bound B_o of multi orders and the candidate arcs
        lb_line = np.zeros(p.n_lines)
        w = self.m_whole
        if len(w):
            cost_e = np.where(ship & self.in_whole, q_e * rate, np.inf)
            m = np.minimum.reduceat(cost_e, self.w_starts) if len(self.w_starts) else \
                np.zeros(0)
            mw = np.full(len(w), np.inf)
            mw[self.w_nonempty] = m
            lb_line[w] = np.where(self.must[w], mw, np.minimum(mw, self.q[w] * self.pen_fin[w]))
        if len(self.m_split):
            lb_line[self.m_split] = self._fill_all(rate, ship)
        fin = np.isfinite(lb_line)
        lb = np.bincount(p.line_order, weights=np.where(fin, lb_line, 0.0), minlength=n_o)
        lb[np.bincount(p.line_order, weights=(~fin).astype(np.float64), minlength=n_o) > 0] \
            = np.inf
        mo = self.multi
        ub_o = value[mo]
        with np.errstate(invalid="ignore"):
            margin = np.where(np.isinf(lb[mo]), -np.inf, ub_o - lb[mo])  # inf - x = inf
        tol = 1e-9 * (np.abs(np.where(np.isfinite(ub_o), ub_o, 0.0)) + 1.0)
        value[mo[np.isinf(lb[mo])]] = np.inf
        margin_o = np.full(n_o, -np.inf)
        margin_o[mo] = margin + tol
        ma = self.m_arcs
        fa = fixed[ma]
        cand = ma[fa <= margin_o[p.arc_order[ma]]]
        if len(cand) == 0:
            return OracleAnswer(value, x, y, True, counts)
        co = p.arc_order[cand]
        srt = np.lexsort((fixed[cand], co))
        cand, co = cand[srt], co[srt]
        n_c = np.bincount(co, minlength=n_o)
        c_ptr = np.zeros(n_o + 1, dtype=np.int64)
        np.cumsum(n_c, out=c_ptr[1:])
        pos = np.arange(len(cand)) - c_ptr[co]
        # package costs summed within each order, cheapest first (a running sum per order,
        # not a global cumulative sum: no cancellation)
        prefix = fixed[cand].copy()
        by_pos = np.argsort(pos, kind="stable")
        pos_ptr = np.searchsorted(pos[by_pos], np.arange(int(pos.max()) + 2))
        for j in range(1, len(pos_ptr) - 1):
            at = by_pos[pos_ptr[j]:pos_ptr[j + 1]]
            prefix[at] += prefix[at - 1]
        k_fit = np.bincount(co, weights=(prefix <= margin_o[co]).astype(np.float64),
                            minlength=n_o).astype(np.int64)
        cap = np.where(self.partition_kind, np.minimum(self.k, self.n_items),
                       np.minimum(self.k, self.qty_o.astype(np.int64)))
        kk = np.minimum(np.minimum(k_fit, cap), n_c)
        active = np.flatnonzero(kk >= 2)
        counts["active"] = len(active)
        if len(active) == 0:
            return OracleAnswer(value, x, y, True, counts)
        # candidate arcs of active orders as a ragged (order -> arcs) structure
        cand_of = _Ragged(cand, c_ptr, pos)

        # 3./4. exact multi-package plans of active orders
        best = np.full(n_o, np.inf)
        plans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        part = active[self.partition_kind[active]]
        enum = active[~self.partition_kind[active]]
        relaxed = np.full(n_o, -np.inf)  # lower bounds of orders sent on to enumeration
        if len(part):
            clash = self._partitions(part, kk, cand_of, rate, fixed, ship, best, plans,
                                     relaxed)
            enum = np.concatenate([enum, clash])
        counts["partition"], counts["enumerate"] = len(part), len(enum)
        fb = np.zeros(0, dtype=np.int64)
        if len(enum):
            n_sets = _n_sets_vec(n_c[enum], kk[enum])
            ok = n_sets <= self.limits.enumerate_max_sets
            fb = enum[~ok]
            if ok.any():
                self._enumerate(enum[ok], kk, cand_of, rate, fixed, ship, best, plans)
        # orders whose multi-package plan beats the one-package plan take it
        better = np.flatnonzero(best < value)
        if len(better):
            won = np.zeros(n_o, dtype=bool)
            won[better] = True
            value[better] = best[better]
            x[won[self.e_order]] = 0.0
            y[won[p.arc_order]] = 0.0
            for ee, units, arcs in plans:
                keep = won[self.e_order[ee]]
                x[ee[keep]] = units[keep]
                y[arcs[won[p.arc_order[arcs]]]] = 1.0
        if n_a:  # a package that carries nothing is not opened (its cost is >= 0)
            y[np.bincount(p.e_arc, weights=x, minlength=n_a) <= 0] = 0.0
        exact = len(fb) == 0
        if len(fb):
            counts["fallback"] = len(fb)
            f1 = fixed[cand[c_ptr[fb]]]
            f2 = fixed[cand[c_ptr[fb] + 1]]
            weak = np.minimum(value[fb], lb[fb] + f1 + f2)
            value[fb] = np.maximum(np.maximum(weak, relaxed[fb]),
                                   np.minimum(value[fb], self._share_values(fb, rate, fixed)))
        return OracleAnswer(value, x, y, exact, counts)

    # ------------------------------------------------------------------------------------

    def _fill_all(self, rate: np.ndarray, ship: np.ndarray) -> np.ndarray:
        """Cost of every splittable multi-order line filled greedily from all its line-arcs
        (cheapest rate first, ``t_e`` each), the rest unfilled."""
        lines, E, seg = self.m_split, self.ms_e, self.ms_seg
        r = np.where(ship[E], rate[E], np.inf)
        o = np.lexsort((r, seg))
        E, seg, r = E[o], seg[o], r[o]
        tf = np.where(np.isfinite(r), self.tf[E], 0.0)
        cs = np.cumsum(tf)
        n_per = np.bincount(seg, minlength=len(lines))
        start = np.cumsum(n_per) - n_per
        before = cs - tf - np.concatenate(([0.0], cs))[start][seg]
        qv = self.q[lines]
        take = np.clip(qv[seg] - before, 0.0, tf)
        short = qv - np.bincount(seg, weights=take, minlength=len(lines))
        c = np.bincount(seg, weights=take * np.where(np.isfinite(r), r, 0.0),
                        minlength=len(lines)) + short * self.pen_fin[lines]
        return np.where(self.must[lines] & (short > 0.5), np.inf, c)

    def _cand_table(self, ob: np.ndarray, L: int, m: int, cand_of: _Ragged
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate arcs (B, m) of orders ``ob`` (-1 pads) and their line-arcs (B, L, m)
        (-1 where the line has no usable line-arc at the arc)."""
        p = self.p
        B = len(ob)
        arcs = np.full((B, m), -1, dtype=np.int64)
        cnt = np.minimum(cand_of.ptr[ob + 1] - cand_of.ptr[ob], m)
        idx = expand_ranges(cand_of.ptr[ob], cnt)
        rows = np.repeat(np.arange(B), cnt)
        arcs[rows, cand_of.pos[idx]] = cand_of.items[idx]
        local = np.where(arcs >= 0, arcs - p.order_arc_ptr[ob][:, None], 0)
        flat = (self.tab_off[ob][:, None, None]
                + np.arange(L)[None, :, None] * self.n_arcs_o[ob][:, None, None]
                + local[:, None, :])
        lae = np.where(arcs[:, None, :] >= 0, self.tab[flat], -1)
        return arcs, lae

    def _partitions(self, orders: np.ndarray, kk: np.ndarray, cand_of: _Ragged,
                    rate: np.ndarray, fixed: np.ndarray, ship: np.ndarray, best: np.ndarray,
                    plans: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    relaxed: np.ndarray) -> np.ndarray:
        """Best plan of 2..K packages, as a split of the order's items into parts.

        Items: a line that every line-arc carries whole is one item (an optimal plan ships it
        from one arc); a splittable line is one item per unit. A part (a count vector over
        the lines) is shipped from the candidate arc that serves it best; its cost there is
        the package plus, per line, ``min(j, t_e)`` units at the rate and the rest unfilled.
        The best split is exact unless two parts picked the same arc while a splittable line
        is in both (their units could exceed that line-arc's ``t_e``): such orders are
        returned, with the split's value (a lower bound) in ``relaxed``, for enumeration.
        """
        n_c = _pad_width(cand_of.ptr[orders + 1] - cand_of.ptr[orders])
        key = self.shape_code[orders] * (1 << 20) + np.minimum(n_c, (1 << 20) - 1)
        clashes: list[np.ndarray] = []
        for kv in np.unique(key).tolist():
            grp = orders[key == kv]
            code, m = kv >> 20, kv & ((1 << 20) - 1)
            shape = []
            while code:
                shape.append(code % 16)
                code //= 16
            L = int(self.n_lines_o[grp[0]])
            shape += [0] * (L - len(shape))
            split = any(c > 1 for c in shape)
            kmax = int(kk[grp].max())
            table, n_parts = vector_partitions(tuple(shape), kmax)
            n_codes = n_parts_codes(tuple(shape))
            digits = _digits(tuple(shape))  # (codes, L)
            chunk = max(1, self.limits.chunk_cells // (n_codes * m))
            for s in range(0, len(grp), chunk):
                ob = grp[s:s + chunk]
                B = len(ob)
                rb = np.arange(B)
                arcs, lae = self._cand_table(ob, L, m, cand_of)
                acc = np.where(arcs >= 0, fixed[np.maximum(arcs, 0)], np.inf)[None]  # (1,B,m)
                for li in range(L):
                    acc = (self._part_costs(ob, li, shape[li], lae[:, li, :], rate, ship)[
                        :, None] + acc[None]).reshape(-1, B, m)
                arg = np.argmin(acc, axis=2)  # (codes, B)
                g = np.take_along_axis(acc, arg[:, :, None], axis=2)[:, :, 0]
                g[0] = 0.0
                tot = g[table].sum(axis=1).T  # (B, splits)
                tot = np.where(n_parts[None, :] <= kk[ob][:, None], tot, np.inf)
                bs = np.argmin(tot, axis=1)
                bv = tot[rb, bs]
                parts = table[bs]  # (B, kmax) part codes
                part_arc = np.where(parts > 0, arg[parts, rb[:, None]], -1)  # local arcs
                bad = np.zeros(B, dtype=bool)
                if split:
                    for i in range(kmax):
                        for j in range(i + 1, kmax):
                            bad |= (part_arc[:, i] >= 0) & (part_arc[:, i] == part_arc[:, j])
                    bad &= np.isfinite(bv)
                    if bad.any():
                        clashes.append(ob[bad])
                        relaxed[ob[bad]] = bv[bad]
                good = np.flatnonzero(~bad)
                best[ob[good]] = np.minimum(best[ob[good]], bv[good])
                xs_e, xs_u, ys = [], [], []
                for i in range(kmax):
                    r = good[parts[good, i] > 0]
                    if len(r) == 0:
                        continue
                    a_loc = part_arc[r, i]
                    ys.append(arcs[r, a_loc])
                    cnt = digits[parts[r, i]]  # (R, L)
                    for li in range(L):
                        inl = cnt[:, li] > 0
                        ee = lae[r[inl], li, a_loc[inl]]
                        jj = cnt[inl, li]
                        ok = (ee >= 0)
                        ee, jj = ee[ok], jj[ok]
                        ok = ship[ee]
                        ee, jj = ee[ok], jj[ok]
                        xs_e.append(ee)
                        units = self.t[ee] if shape[li] == 1 else np.minimum(jj, self.t[ee])
                        xs_u.append(units.astype(np.float64))
                plans.append((np.concatenate(xs_e) if xs_e else np.zeros(0, dtype=np.int64),
                              np.concatenate(xs_u) if xs_u else np.zeros(0),
                              np.concatenate(ys) if ys else np.zeros(0, dtype=np.int64)))
        return np.concatenate(clashes) if clashes else np.zeros(0, dtype=np.int64)

    def _part_costs(self, ob: np.ndarray, li: int, c: int, lae: np.ndarray,
                    rate: np.ndarray, ship: np.ndarray) -> np.ndarray:
        """(c+1, B, m): cost of local line ``li`` of orders ``ob`` when a part holds 0..c of
        its items and ships from each candidate arc."""
        p = self.p
        line = p.order_line_ptr[ob] + li  # (B,)
        q = self.q[line][:, None]
        pen = self.pen_fin[line][:, None]
        must = self.must[line][:, None]
        has = lae >= 0
        e = np.maximum(lae, 0)
        B, m = lae.shape
        out = np.zeros((c + 1, B, m))
        if c == 1:  # the whole line
            out[1] = np.where(must, np.where(has, q * rate[e], np.inf),
                              np.where(has & ship[e], q * rate[e], q * pen))
            return out
        t = np.where(has, self.tf[e], 0.0)
        rr = np.where(has & ship[e], rate[e], pen)  # per shipped unit (never above pen)
        for j in range(1, c + 1):
            sh = np.minimum(float(j), t)
            out[j] = np.where(must, np.where(t >= j, j * np.where(has, rate[e], 0.0), np.inf),
                              sh * rr + (j - sh) * pen)
        return out

    def _enumerate(self, orders: np.ndarray, kk: np.ndarray, cand_of: _Ragged,
                   rate: np.ndarray, fixed: np.ndarray, ship: np.ndarray, best: np.ndarray,
                   plans: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Best plan over every set of 2..K candidate arcs, lines filled greedily."""
        p = self.p
        n_c = cand_of.ptr[orders + 1] - cand_of.ptr[orders]
        L_o = self.n_lines_o[orders]
        key = (n_c * 64 + kk[orders]) * 4096 + L_o
        for kv in np.unique(key).tolist():
            grp = orders[key == kv]
            L, k, m = kv % 4096, (kv // 4096) % 64, kv // (4096 * 64)
            subs = arc_sets(m, k)  # (S, k)
            S = len(subs)
            chunk = max(1, self.limits.chunk_cells // (S * L * k))
            for s in range(0, len(grp), chunk):
                ob = grp[s:s + chunk]
                B = len(ob)
                arcs, lae = self._cand_table(ob, L, m, cand_of)
                sub0 = np.maximum(subs, 0)
                sa = np.where(subs[None] >= 0, arcs[:, sub0], -1)  # (B, S, k)
                pe = np.where(subs[None, None] >= 0, lae[:, :, sub0], -1)  # (B, L, S, k)
                e = np.maximum(pe, 0)
                lines = p.order_line_ptr[ob][:, None] + np.arange(L)[None, :]  # (B, L)
                pen = self.pen_fin[lines][:, :, None, None]
                must = self.must[lines][:, :, None, None]
                r = np.where((pe >= 0) & ship[e], rate[e], np.inf)
                srt = np.argsort(r, axis=3, kind="stable")
                rs = np.take_along_axis(r, srt, axis=3)
                fin = np.isfinite(rs)
                ts = np.where(fin, np.take_along_axis(self.tf[e], srt, axis=3), 0.0)
                q = self.q[lines][:, :, None, None]
                before = np.cumsum(ts, axis=3) - ts
                take = np.clip(q - before, 0.0, ts)
                short = q[..., 0] - take.sum(axis=3)  # (B, L, S)
                lc = (take * np.where(fin, rs, 0.0)).sum(axis=3) + short * pen[..., 0]
                lc = np.where(must[..., 0] & (short > 0.5), np.inf, lc)
                sc = lc.sum(axis=1) + np.where(sa >= 0, fixed[np.maximum(sa, 0)], 0.0).sum(
                    axis=2)  # (B, S)
                bs = np.argmin(sc, axis=1)
                rb = np.arange(B)
                bv = sc[rb, bs]
                best[ob] = np.minimum(best[ob], bv)
                wa = sa[rb, bs]  # (B, k)
                we = np.take_along_axis(e[rb, :, bs], srt[rb, :, bs], axis=2)  # (B, L, k)
                wt = take[rb, :, bs]
                sel = wt > 0
                plans.append((we[sel], wt[sel], wa[wa >= 0]))

    def _share_values(self, orders: np.ndarray, rate: np.ndarray, fixed: np.ndarray
                      ) -> np.ndarray:
        """Fractional knapsack per line, each package cost spread evenly over the usable
        line-arcs of its arc (a valid lower bound; package limit dropped)."""
        p = self.p
        l0, l1 = p.order_line_ptr[orders], p.order_line_ptr[orders + 1]
        lines = expand_ranges(l0, l1 - l0)
        n_l = len(lines)
        cnt = p.line_e_ptr[lines + 1] - p.line_e_ptr[lines]
        E = expand_ranges(p.line_e_ptr[lines], cnt)
        seg = np.repeat(np.arange(n_l), cnt)
        keep = self.usable[E]
        E, seg = E[keep], seg[keep]
        share = 1.0 / np.maximum(self.arc_usable[p.e_arc[E]], 1.0)
        tf = self.tf[E]
        rr = rate[E] + fixed[p.e_arc[E]] * share / tf
        qv, pen, must = self.q[lines], self.pen_fin[lines], self.must[lines]
        ok = must[seg] | (rr < pen[seg])
        E, seg, rr, tf = E[ok], seg[ok], rr[ok], tf[ok]
        o = np.lexsort((rr, seg))
        seg, rr, tf = seg[o], rr[o], tf[o]
        cs = np.cumsum(tf)
        counts = np.bincount(seg, minlength=n_l)
        start = np.cumsum(counts) - counts
        before = cs - tf - np.concatenate(([0.0], cs))[start][seg]
        take = np.clip(qv[seg] - before, 0.0, tf)
        short = qv - np.bincount(seg, weights=take, minlength=n_l)
        lc = np.bincount(seg, weights=take * rr, minlength=n_l) + short * pen
        lc = np.where(must & (short > 1e-9), np.inf, lc)
        pos = np.repeat(np.arange(len(orders)), l1 - l0)
        tot = np.bincount(pos, weights=np.where(np.isinf(lc), 0.0, lc), minlength=len(orders))
        bad = np.bincount(pos, weights=np.isinf(lc).astype(np.float64),
                          minlength=len(orders)) > 0
        return np.where(bad, np.inf, tot)


@dataclass
class _Ragged:
    items: np.ndarray  # candidate arcs grouped by order, cheapest package first
    ptr: np.ndarray  # (O+1,)
    pos: np.ndarray  # position of each item within its order


def _pad_width(m: np.ndarray) -> np.ndarray:
    """Candidate counts rounded up to a few widths, so that few dense groups are formed."""
    return np.where(m <= 6, m, np.where(m <= 32, (m + 3) // 4 * 4,
                                        np.where(m <= 64, (m + 7) // 8 * 8, (m + 15) // 16 * 16)))


@lru_cache(maxsize=256)
def _digits(shape: tuple[int, ...]) -> np.ndarray:
    """(codes, lines): the count vector of every part code of ``shape``."""
    n = n_parts_codes(shape)
    codes = np.arange(n)
    out = np.zeros((n, len(shape)), dtype=np.int64)
    for li, c in enumerate(shape):
        out[:, li] = codes % (c + 1)
        codes = codes // (c + 1)
    return out


def _n_sets_vec(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    keys, inv = np.unique(n * 4096 + k, return_inverse=True)
    vals = np.array([n_arc_sets(int(v // 4096), int(v % 4096)) for v in keys], dtype=np.int64)
    return vals[inv]


def rounding_scale(oracle: LagrangianOracle, rate: np.ndarray, fixed: np.ndarray) -> float:
    """A magnitude bound of the numbers summed into the bound at these prices: the caller's
    rounding margin is a tiny multiple of it."""
    p = oracle.p
    return float(oracle.base.sum() + np.abs(fixed).sum() + np.dot(oracle.tf, np.abs(rate))
                 + 1.0) if p.n_arcs else float(oracle.base.sum() + 1.0)
