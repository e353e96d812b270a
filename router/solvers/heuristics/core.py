"""The shared engine of the heuristics: residual state, vectorised bidding rounds, and the
per-order sequential insertion used as a safety net.

Every heuristic of the project (``greedy``, ``regret``, ``nearest``, ``fewest-splits``,
``lagrangian`` and the local search of ``auto``) inserts orders into a partial solution with
:func:`insert_orders`. Costs that steer the choice (``Prices``) are kept apart from the true
costs, so the same engine routes by distance (the industry rules), by true cost (greedy) or
by Lagrangian reduced cost; feasibility is always checked against the true residual stock,
capacities and package limits, so every plan it returns is feasible (units may stay unfilled).

One bidding round, over all active orders at once:

1. every line still short gets its *standalone* option: the cheapest line-arc that ships its
   whole remaining quantity (a new package costs its fixed price), or its penalty;
2. every order picks a *primary* arc, the one whose lines, shipped together there, save most
   against their standalone options (package price paid once); lines the primary does not
   carry take their standalone option given the primary is open, or, where no line-arc can
   ship them whole, the best partial quantity (rate = unit price + package price / units);
3. the bids are ranked (``priority``: by regret, the loss of an order when its best primary
   vanishes, or by a fixed order sequence) and accepted in that order wherever the cumulated
   demand on every stock pool, node package limit and node unit capacity still fits; rejected
   bids are checked again against what is left, the rest bid again in the next round.

Rounds accept at least one bid each (else the first order is inserted sequentially), so the
loop ends; a round costs time linear in the line-arcs of the orders still active.

Two engines run the rounds with the same arithmetic and give the same plan: compiled loops
(:mod:`router.solvers.heuristics.kernels`, numba; order by order, an order's last bid reused
while nothing it reads has changed) and whole-array numpy passes (:func:`make_bids`,
:func:`accept_bids`), the reference that tests compare them with (``engine`` of
:func:`insert_orders`; ``ROUTER_JIT=0`` selects numpy everywhere).
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from router import jit
from router.compile import Problem, expand_ranges
from router.contract import Budget
from router.evaluate import arc_units, line_shipped
from router.solvers.heuristics import kernels

log = logging.getLogger(__name__)

EPS = 1e-9


@dataclass(frozen=True)
class Prices:
    """Costs that steer the choice of options (not the objective): per unit on each line-arc,
    per package on each arc, per unfilled unit on each line (finite)."""

    unit: np.ndarray  # (E,)
    fixed: np.ndarray  # (A,)
    penalty: np.ndarray  # (L,)


def big_penalty(p: Problem) -> float:
    """A finite stand-in for an infinite penalty (must-fill lines): dearer than any plan."""
    top = float(p.arc_cost.max(initial=0.0)) + float(p.e_unit_cost.max(initial=0.0)) * float(
        p.line_qty.max(initial=1))
    return 1e6 * (1.0 + top)


def true_prices(p: Problem) -> Prices:
    pen = np.where(np.isinf(p.line_penalty), big_penalty(p), p.line_penalty)
    return Prices(p.e_unit_cost, p.arc_cost, pen)


class State:
    """A partial solution ``x`` and what it leaves: stock, packages, unit capacity."""

    def __init__(self, p: Problem, x: np.ndarray | None = None) -> None:
        self.p = p
        if x is None:  # nothing shipped: what is left is everything
            self.x = np.zeros(p.n_line_arcs, dtype=np.int64)
            self.arc_units = np.zeros(p.n_arcs, dtype=np.int64)
            self.pool_left = p.pool_qty.astype(np.float64)
            self.cap_left = p.node_capacity.astype(np.float64)
            self.node_pk_left = p.node_max_packages.astype(np.float64)
            self.order_npk = np.zeros(p.n_orders, dtype=np.int64)
            self.line_need = p.line_qty.astype(np.int64)
            return
        self.x = np.asarray(x, dtype=np.int64).copy()
        x = self.x
        self.arc_units = arc_units(p, x).astype(np.int64)
        used = self.arc_units > 0
        self.pool_left = p.pool_qty - np.bincount(p.e_pool, weights=x,
                                                  minlength=len(p.pool_qty))
        e_node = p.arc_node[p.e_arc]
        self.cap_left = p.node_capacity - np.bincount(e_node, weights=x * p.e_use,
                                                      minlength=p.n_nodes)
        self.node_pk_left = p.node_max_packages - np.bincount(p.arc_node[used],
                                                              minlength=p.n_nodes)
        self.order_npk = np.bincount(p.arc_order[used], minlength=p.n_orders).astype(np.int64)
        self.line_need = p.line_qty - line_shipped(p, x)

    def copy(self) -> State:
        s = State.__new__(State)
        s.p = self.p
        for k in ("x", "arc_units", "pool_left", "cap_left", "node_pk_left", "order_npk",
                  "line_need"):
            setattr(s, k, getattr(self, k).copy())
        return s

    def add(self, e: np.ndarray, q: np.ndarray) -> None:
        """Ship ``q`` more units on line-arcs ``e`` (distinct line-arcs; a line may have
        several, as when a move is undone)."""
        p = self.p
        if len(e) == 0:
            return
        a = p.e_arc[e]
        opened = self.arc_units[a] == 0
        self.x[e] += q
        _scatter_add(self.line_need, p.e_line[e], -q)
        _scatter_add(self.arc_units, a, q)
        _scatter_add(self.pool_left, p.e_pool[e], -q)
        n = p.arc_node[a]
        _scatter_add(self.cap_left, n, -(q * p.e_use[e]))
        if opened.any():
            new = np.unique(a[opened])
            _scatter_add(self.node_pk_left, p.arc_node[new], -np.ones(len(new)))
            _scatter_add(self.order_npk, p.arc_order[new], np.ones(len(new), dtype=np.int64))

    def remove_orders(self, orders: np.ndarray) -> None:
        """Take every unit of ``orders`` out of the solution."""
        p = self.p
        lines = expand_ranges(p.order_line_ptr[orders],
                              p.order_line_ptr[orders + 1] - p.order_line_ptr[orders])
        e = expand_ranges(p.line_e_ptr[lines], p.line_e_ptr[lines + 1] - p.line_e_ptr[lines])
        e = e[self.x[e] > 0]
        if len(e) == 0:
            return
        q = self.x[e]
        a = p.e_arc[e]
        self.x[e] = 0
        np.subtract.at(self.arc_units, a, q)
        np.add.at(self.pool_left, p.e_pool[e], q)
        np.add.at(self.cap_left, p.arc_node[a], q * p.e_use[e])
        np.add.at(self.line_need, p.e_line[e], q)
        closed = np.unique(a[self.arc_units[a] == 0])
        np.add.at(self.node_pk_left, p.arc_node[closed], 1)
        np.subtract.at(self.order_npk, p.arc_order[closed], 1)


def _scatter_add(target: np.ndarray, idx: np.ndarray, vals: np.ndarray) -> None:
    """``target[idx] += vals`` with repeated indices summed."""
    if 8 * len(idx) >= len(target):
        target += np.bincount(idx, weights=vals, minlength=len(target)).astype(target.dtype)
    else:
        np.add.at(target, idx, vals)


def order_costs(p: Problem, x: np.ndarray, orders: np.ndarray) -> float:
    """True cost (packages, units, unfilled at penalty; must-fill at the big penalty) of the
    given orders in ``x``."""
    lines = expand_ranges(p.order_line_ptr[orders],
                          p.order_line_ptr[orders + 1] - p.order_line_ptr[orders])
    e = expand_ranges(p.line_e_ptr[lines], p.line_e_ptr[lines + 1] - p.line_e_ptr[lines])
    xe = x[e]
    pk = float(p.arc_cost[np.unique(p.e_arc[e[xe > 0]])].sum())
    unit = float(np.dot(xe, p.e_unit_cost[e]))
    shipped = np.bincount(np.searchsorted(lines, p.e_line[e]), weights=xe,
                          minlength=len(lines))
    short = p.line_qty[lines] - shipped
    pen = np.where(np.isinf(p.line_penalty[lines]), big_penalty(p), p.line_penalty[lines])
    return pk + unit + float(np.dot(short, pen))


def _seg_min(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Minimum of each segment ``values[starts[i]:starts[i]+counts[i]]`` (inf when empty)."""
    out = np.full(len(starts), np.inf)
    nz = counts > 0
    if len(values) and nz.any():
        out[nz] = np.minimum.reduceat(values, starts[nz])
    return out


def _seg_first(mask: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Index of the first True of each segment (``seg`` sorted), -1 where none."""
    idx = np.flatnonzero(mask)
    out = np.full(n_seg, -1, dtype=np.int64)
    if len(idx):
        s = seg[idx]
        first = np.ones(len(idx), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        out[s[first]] = idx[first]
    return out


@dataclass
class Bids:
    """One bid per order: units on line-arcs, in priority order of the orders."""

    order: np.ndarray  # (B,) order of each entry
    e: np.ndarray  # (B,) line-arc
    q: np.ndarray  # (B,) units
    new_arc: np.ndarray  # (B,) True where the entry's arc is a new package for its order
    rank: np.ndarray  # (B,) priority rank of the entry's order (0 = first)
    n_orders: int
    bidders: np.ndarray  # orders that bid, in priority order
    silent: np.ndarray  # active orders with nothing worth bidding for


class Static:
    """Per-problem arrays the rounds reuse (derived once from the read-only problem)."""

    def __init__(self, p: Problem) -> None:
        self.e_node = p.arc_node[p.e_arc]
        self.e_order = p.arc_order[p.e_arc]
        self.e_off = p.e_arc - p.order_arc_ptr[self.e_order]  # arc's index within its order
        self.e_count = np.diff(p.line_e_ptr)
        self.unit_use = bool((p.e_use == 1.0).all())
        self.cap_finite = bool(np.isfinite(p.node_capacity).any())
        self.pool_finite = bool(np.isfinite(p.pool_qty).any())
        self.lines_arcs = np.flatnonzero(self.e_count > 0)
        self.all_e = np.arange(p.n_line_arcs)
        local = np.cumsum(self.e_count > 0) - 1
        self.le_all = local[p.e_line]
        self.all_a = np.arange(p.n_arcs)
        has_arcs = np.diff(p.order_arc_ptr) > 0
        self.a_order_local = (np.cumsum(has_arcs) - 1)[p.arc_order]


_STATIC: weakref.WeakKeyDictionary[Problem, Static] = weakref.WeakKeyDictionary()


def static(p: Problem) -> Static:
    s = _STATIC.get(p)
    if s is None:
        s = _STATIC[p] = Static(p)
    return s


def make_bids(p: Problem, st: State, ao: np.ndarray, pr: Prices, priority: str,
              tiebreak: np.ndarray, mode: str = "cost") -> Bids:
    """Every active order's best option given what is left (see the module docstring).

    ``mode``: ``"cost"`` (primary arc and the rest, as described); ``"complete"``: the
    primary must ship every short line of the order whole, else each line goes alone;
    ``"cover"``: only the primary's lines bid this round (greedy set cover over rounds)."""
    S = static(p)
    olp, lep = p.order_line_ptr, p.line_e_ptr
    lines = expand_ranges(olp[ao], olp[ao + 1] - olp[ao])
    lines = lines[(st.line_need[lines] > 0) & (S.e_count[lines] > 0)]
    ecount = S.e_count[lines]
    n_l = len(lines)
    full_set = n_l == len(S.lines_arcs)  # every line with a source is active
    if full_set:
        E, le = S.all_e, S.le_all
    elif 4 * n_l > p.n_lines:
        lmask = np.zeros(p.n_lines, dtype=bool)
        lmask[lines] = True
        E = np.flatnonzero(lmask[p.e_line])
        le = np.repeat(np.arange(n_l), ecount)
    else:
        E = expand_ranges(lep[lines], ecount)
        le = np.repeat(np.arange(n_l), ecount)

    def on_e(v: np.ndarray) -> np.ndarray:
        return v if full_set else v[E]

    l_start = np.cumsum(ecount) - ecount
    # orders (local index) of the lines
    ol = p.line_order[lines]
    newo = np.ones(n_l, dtype=bool)
    newo[1:] = ol[1:] != ol[:-1]
    ao_u = ol[newo]
    l_oloc = np.cumsum(newo) - 1
    n_o = len(ao_u)
    slots_o = p.order_max_packages[ao_u] - st.order_npk[ao_u]
    acount = p.order_arc_ptr[ao_u + 1] - p.order_arc_ptr[ao_u]
    a_start = np.cumsum(acount) - acount
    need_l = st.line_need[lines].astype(np.float64)
    need = need_l[le]
    a = on_e(p.e_arc)
    n = on_e(S.e_node)
    o_loc = l_oloc[le]
    avail = np.minimum(need, on_e(p.e_ub) - on_e(st.x))
    if S.pool_finite:
        np.minimum(avail, st.pool_left[on_e(p.e_pool)], out=avail)
    if S.cap_finite:
        if S.unit_use:
            np.minimum(avail, np.floor(st.cap_left + EPS)[n], out=avail)
        else:
            use = on_e(p.e_use)
            with np.errstate(divide="ignore", invalid="ignore"):
                capq = np.where(use > 0, np.floor(st.cap_left[n] / np.where(use > 0, use, 1.0)
                                                  + EPS), np.inf)
            np.minimum(avail, capq, out=avail)
    is_open = st.arc_units[a] > 0
    slots = slots_o[o_loc]
    node_ok = st.node_pk_left >= 1 - EPS
    can_open = node_ok[n] & (slots >= 1)
    usable = (avail >= 1) & (is_open | can_open)
    full = usable & (avail >= need)
    fixed_a = pr.fixed[a]
    fixed_e = np.where(is_open, 0.0, fixed_a)
    unit = on_e(pr.unit)
    pen_l = pr.penalty[lines]
    line_cost = need * unit
    # 1. standalone options (a secondary line may open a package only if two slots are left)
    sec_ok = full & (is_open | (slots >= 2))
    sc = np.where(sec_ok, line_cost + fixed_e, np.inf)
    sc_min = _seg_min(sc, l_start, ecount)
    alt = np.minimum(sc_min, need_l * pen_l)
    if priority == "regret":
        # a line's regret: what it loses when its cheapest standalone source vanishes
        first_sc = _seg_first(sc == sc_min[le], le, n_l)
        masked_sc = sc.copy()
        masked_sc[first_sc[first_sc >= 0]] = np.inf
        sc_second = np.minimum(_seg_min(masked_sc, l_start, ecount), need_l * pen_l)
        line_reg = np.where(np.isfinite(sc_min), sc_second - alt, 0.0)
    # 2. primary arc (local arc index la = arc start of the order + arc's index within it)
    la = a_start[o_loc] + on_e(S.e_off)
    n_a = int(acount.sum())
    gain = np.where(full, alt[le] - line_cost, 0.0)
    np.maximum(gain, 0.0, out=gain)
    arc_gain = np.bincount(la, weights=gain, minlength=n_a)
    all_arcs = n_a == p.n_arcs
    A_r = S.all_a if all_arcs else expand_ranges(p.order_arc_ptr[ao_u], acount)
    a_seg = S.a_order_local if all_arcs else np.repeat(np.arange(n_o), acount)
    a_open = st.arc_units[A_r] > 0
    a_can = a_open | (node_ok[p.arc_node[A_r]] & (slots_o >= 1)[a_seg])
    score = np.where(a_open, 0.0, pr.fixed[A_r]) - arc_gain
    score[~a_can | (score >= -EPS) | (arc_gain <= EPS)] = np.inf
    if mode == "complete":  # any node shipping every short line, the cheapest package
        n_full = np.bincount(la, weights=full, minlength=n_a)
        n_short = np.bincount(l_oloc, minlength=n_o)
        complete = a_can & (n_full >= np.repeat(n_short, acount))
        score = np.where(complete, np.where(a_open, 0.0, pr.fixed[A_r]), np.inf)
    best = _seg_min(score, a_start, acount)
    prim_local = _seg_first(score == best[a_seg], a_seg, n_o)
    prim_local[~np.isfinite(best)] = -1
    has_prim = prim_local >= 0
    prim_arc = np.where(has_prim, A_r[np.maximum(prim_local, 0)], -1)
    second = np.full(n_o, np.inf)
    if priority == "regret":
        masked = score
        masked[prim_local[has_prim]] = np.inf
        second = _seg_min(masked, a_start, acount)
    # 3. the bid: primary lines, then the rest given the primary is open
    at_prim = a == prim_arc[o_loc]
    prim_e = at_prim & full & ((gain > EPS) | (mode == "complete"))
    line_prim = np.zeros(n_l, dtype=bool)
    line_prim[le[prim_e]] = True
    rest = ~line_prim[le]
    fixed2 = np.where(at_prim, 0.0, fixed_e)
    sc2 = np.where((sec_ok | (at_prim & full)) & rest, line_cost + fixed2, np.inf)
    alt2 = _seg_min(sc2, l_start, ecount)
    take = prim_e | (rest & (sc2 == alt2[le]) & (alt2 < need_l * pen_l - EPS)[le])
    if mode == "cover":
        take = np.where(has_prim[o_loc], prim_e, take)
    # lines no line-arc can ship whole: the best partial rate
    no_full = ~np.isfinite(alt2) & ~line_prim
    if mode == "cover":
        no_full &= ~has_prim[l_oloc]
    q_e = need
    if no_full.any():
        part_ok = usable & no_full[le] & (is_open | at_prim | (slots >= 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(part_ok, unit + fixed2 / np.maximum(avail, 1.0), np.inf)
        best_rate = _seg_min(rate, l_start, ecount)
        take_part = part_ok & (rate == best_rate[le]) & (best_rate < pen_l - EPS)[le]
        take |= take_part
        q_e = np.where(take_part, avail, need)
    # one line-arc per line: the first chosen
    first = _seg_first(take, le, n_l)
    sel = first[first >= 0]
    q = q_e[sel].astype(np.int64)
    b_e, b_ol = E[sel], o_loc[sel]
    b_arc = a[sel]
    b_new = ~is_open[sel]
    # package limit per order: the primary first, then other new arcs by index, within slots
    n_new = np.bincount(b_ol[b_new], minlength=n_o) if b_new.any() else np.zeros(n_o)
    if (n_new > slots_o).any():
        nz = np.flatnonzero(b_new)
        not_prim = b_arc[nz] != prim_arc[b_ol[nz]]
        srt = nz[np.lexsort((b_arc[nz], not_prim, b_ol[nz]))]
        so, sa = b_ol[srt], b_arc[srt]
        newgrp = np.ones(len(srt), dtype=bool)
        newgrp[1:] = (so[1:] != so[:-1]) | (sa[1:] != sa[:-1])
        grp_id = np.cumsum(newgrp) - 1
        ostart = np.ones(len(srt), dtype=bool)
        ostart[1:] = so[1:] != so[:-1]
        first_grp = np.maximum.accumulate(np.where(ostart, grp_id, 0))
        over = (grp_id - first_grp) >= slots_o[so]
        if over.any():
            keep = np.ones(len(sel), dtype=bool)
            keep[srt[over]] = False
            b_e, b_ol, q, b_new = b_e[keep], b_ol[keep], q[keep], b_new[keep]
    # priority of the bidders (local order indices)
    if len(b_ol):
        first_b = np.ones(len(b_ol), dtype=bool)
        first_b[1:] = b_ol[1:] != b_ol[:-1]
        bid_loc = b_ol[first_b]  # b_ol is sorted (entries follow the lines)
    else:
        bid_loc = np.zeros(0, dtype=np.int64)
    bidders = ao_u[bid_loc]
    is_bidder = np.zeros(p.n_orders, dtype=bool)
    is_bidder[bidders] = True
    silent = ao[~is_bidder[ao]]
    if priority == "regret":
        bst = best[bid_loc]
        with np.errstate(invalid="ignore"):
            reg = np.where(np.isfinite(second[bid_loc]), second[bid_loc] - bst, -bst)
        reg = np.where(np.isfinite(bst), reg, 0.0)
        # an order loses at least its most exposed line's regret
        o_first = np.flatnonzero(newo)
        o_line_reg = np.maximum.reduceat(line_reg, o_first) if n_l else np.zeros(0)
        reg = np.maximum(reg, o_line_reg[bid_loc])
        order_rank = np.lexsort((tiebreak[bidders], -reg))
    else:  # "sequence": the tiebreak array is the order sequence
        order_rank = np.argsort(tiebreak[bidders], kind="stable")
    rank_loc = np.empty(n_o, dtype=np.int64)
    rank_loc[bid_loc[order_rank]] = np.arange(len(bid_loc))
    return Bids(ao_u[b_ol], b_e, q, b_new, rank_loc[b_ol], len(bid_loc),
                bidders[order_rank], silent)


def _fits(amount: np.ndarray, res: np.ndarray, rank: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Entries whose cumulated demand on their resource (in rank order) fits what is left."""
    if len(amount) == 0:
        return np.ones(0, dtype=bool)
    srt = np.argsort(res, kind="stable")  # entries arrive in rank order
    r, am = res[srt], amount[srt]
    cs = np.cumsum(am)
    start = np.ones(len(srt), dtype=bool)
    start[1:] = r[1:] != r[:-1]
    base = np.maximum.accumulate(np.where(start, np.arange(len(srt)), 0))
    before = np.concatenate(([0.0], cs))[base]
    ok_sorted = (cs - before) <= left[r] + 1e-6
    ok = np.empty(len(srt), dtype=bool)
    ok[srt] = ok_sorted
    return ok


def accept_bids(p: Problem, st: State, b: Bids, limit: int | None = None,
                n_blocks: int = 4, retries: int = 2, reserve: bool = True) -> np.ndarray:
    """Apply the bids that fit, in priority order; returns the orders accepted.

    The bids are taken in blocks of consecutive ranks; within a block an order's bid is
    accepted when, on every resource it needs, the demand of the block's bids ranked before
    it plus its own still fits what is left. Bids that do not fit are checked once more after
    the block's accepted bids are applied; those still out bid again in the next round, and
    (``reserve``) keep their claim for this round on the resources where they did fit, so a
    lower-ranked order cannot take scarce stock from them meanwhile. ``limit`` caps the
    number of orders accepted (the regret rule takes a few at a time)."""
    n_bid = b.n_orders if limit is None else min(limit, b.n_orders)
    srt = np.argsort(b.rank, kind="stable")
    rk_sorted = b.rank[srt]
    size = max(256, -(-n_bid // n_blocks))
    accepted: list[np.ndarray] = []
    held_pool = np.zeros(len(st.pool_left))
    held_cap = np.zeros(p.n_nodes)
    held_pk = np.zeros(p.n_nodes)
    for lo in range(0, n_bid, size):
        hi = min(n_bid, lo + size)
        idx = srt[np.searchsorted(rk_sorted, lo):np.searchsorted(rk_sorted, hi)]
        pool_ok = cap_ok = pk_ok = np.ones(0, dtype=bool)
        pk = np.zeros(0)
        for _ in range(retries):
            if len(idx) == 0:
                break
            e, q, rk = b.e[idx], b.q[idx], b.rank[idx]
            a = p.e_arc[e]
            n = p.arc_node[a]
            pool_ok = _fits(q.astype(np.float64), p.e_pool[e], rk, st.pool_left - held_pool)
            cap_ok = _fits(q * p.e_use[e], n, rk, st.cap_left - held_cap)
            nw = b.new_arc[idx]
            # one package per distinct new arc (an order's entries on one arc count once)
            pk = np.zeros(len(idx))
            if nw.any():
                k = np.flatnonzero(nw)
                _, firsts = np.unique(a[k], return_index=True)
                pk[k[firsts]] = 1.0
            pk_ok = _fits(pk, n, rk, st.node_pk_left - held_pk)
            bad = ~(pool_ok & cap_ok & pk_ok)
            bad_rank = np.zeros(b.n_orders, dtype=bool)
            bad_rank[rk[bad]] = True
            good = ~bad_rank[rk]
            gi = idx[good]
            if len(gi):
                st.add(b.e[gi], b.q[gi])
                accepted.append(b.order[gi])
            idx = idx[~good]
            pool_ok, cap_ok, pk_ok, pk = pool_ok[~good], cap_ok[~good], pk_ok[~good], pk[~good]
        if reserve and len(idx) and hi < n_bid:
            e, q = b.e[idx], b.q[idx]
            n = p.arc_node[p.e_arc[e]]
            _scatter_add(held_pool, p.e_pool[e], np.where(pool_ok, q, 0).astype(np.float64))
            _scatter_add(held_cap, n, np.where(cap_ok, q * p.e_use[e], 0.0))
            _scatter_add(held_pk, n, np.where(pk_ok, pk, 0.0))
    return np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int64)


def insert_orders(p: Problem, st: State, orders: np.ndarray, pr: Prices, *,
                  priority: str = "regret", tiebreak: np.ndarray | None = None,
                  chunk: float | None = None, deadline: Budget | None = None,
                  max_rounds: int = 10_000, mode: str = "cost",
                  engine: str = "auto") -> dict[str, int]:
    """Route the short lines of ``orders`` into ``st`` by bidding rounds (module docstring).

    ``chunk``: accept at most this fraction of the bids per round (the regret rule recomputes
    regrets after each few acceptances); ``None`` accepts every bid that fits.

    Past the ``deadline`` the rounds do not stop: they accept every bid that fits (as greedy
    does), so every order is still routed. A plan that leaves orders unrouted because the
    clock ran out is worth nothing to the caller; one greedy pass (a few microseconds per
    order) is the floor of every budget.

    ``engine``: ``"jit"`` runs each round as the compiled loops of
    :mod:`router.solvers.heuristics.kernels`, ``"numpy"`` as whole-array passes
    (:func:`make_bids`, :func:`accept_bids`); both give the same plan. ``"auto"``: the
    compiled loops where numba is enabled (:data:`router.jit.ENABLED`)."""
    if engine not in ("auto", "jit", "numpy"):
        raise ValueError(f"unknown engine {engine!r}")
    fast = engine == "jit" or (engine == "auto" and jit.ENABLED)
    if tiebreak is None:
        tiebreak = np.arange(p.n_orders)
    ao = np.asarray(orders, dtype=np.int64)
    if len(ao) > 1 and not (ao[1:] > ao[:-1]).all():
        ao = np.unique(ao)
    ao = ao[p.order_arc_ptr[ao + 1] > p.order_arc_ptr[ao]]
    rounds = fallback = 0
    jr = _JitRound(p, st, pr, priority, tiebreak, mode, ao) if fast else None
    loc = np.arange(len(ao))  # the orders' places in the compiled rounds' cache
    while len(ao) and rounds < max_rounds:
        if chunk is not None and deadline is not None and deadline.expired():
            chunk = None
        rounds += 1
        if jr is not None:
            n_bidders, first, silent, n_acc = jr.run(ao, loc, chunk)
            if n_bidders == 0:
                break
            ao, loc = ao[~silent], loc[~silent]
        else:
            b = make_bids(p, st, ao, pr, priority, tiebreak, mode)
            if b.n_orders == 0:
                break
            limit = None if chunk is None else max(1, math.ceil(chunk * b.n_orders))
            n_acc = len(accept_bids(p, st, b, limit))
            keep = ~np.isin(ao, b.silent, assume_unique=True)
            ao, loc = ao[keep], loc[keep]
            first = int(b.bidders[0])
        if n_acc == 0:
            # nothing fitted together: route the first bidder alone (sequential rule), retire it
            fallback += 1
            insert_sequential(p, st, np.array([first], dtype=np.int64), pr)
            if jr is not None:
                jr.forget()
            keep = ao != first
            ao, loc = ao[keep], loc[keep]
        keep = _order_short(p, st, ao) > 0
        ao, loc = ao[keep], loc[keep]
    return {"rounds": rounds, "sequential": fallback}


def _readonly(a: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only contiguous view (a copy only where the dtype or layout differs), so that
    the compiled loops see one array type whatever the caller passed."""
    v: np.ndarray = np.ascontiguousarray(a, dtype=dtype).view()
    v.flags.writeable = False
    return v


class _JitRound:
    """Bidding rounds as the compiled loops (:mod:`kernels`) over the arrays of ``st``, for
    the orders ``ao`` (sorted) of one :func:`insert_orders` call: their bids of the last
    round kept, and the round that last changed each pool and node (a kept bid is reused
    where none of its pools and nodes changed since)."""

    def __init__(self, p: Problem, st: State, pr: Prices, priority: str,
                 tiebreak: np.ndarray, mode: str, ao: np.ndarray) -> None:
        if mode not in kernels.MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.p, self.st = p, st
        self.regret = priority == "regret"
        self.mode = kernels.MODES[mode]
        n = len(ao)
        # the orders by tiebreak (ties by index), once: a round's bidders in this sequence,
        # then stably by regret, are what lexsort((tiebreak, -regret)) gives, at half its cost
        self.by_tiebreak = np.argsort(np.asarray(tiebreak)[ao], kind="stable")
        self.is_bidder = np.zeros(n, dtype=bool)
        self.pos = np.zeros(n, dtype=np.int64)
        self.unit = _readonly(pr.unit, np.float64)
        self.fixed = _readonly(pr.fixed, np.float64)
        self.penalty = _readonly(pr.penalty, np.float64)
        self.flags = _flags(p)
        self.round_no = 0
        self.epoch = 0
        # stock and unit capacity at or above a line's largest need never limit a bid
        q = float(p.line_qty.max(initial=0))
        self.pool_lim = q
        self.cap_lim = q + 1.0 if self.flags[2] else np.inf
        self.pool_stamp = np.full(len(p.pool_qty), -1, dtype=np.int64)
        self.node_stamp = np.full(p.n_nodes, -1, dtype=np.int64)
        self.c_stamp = np.full(n, -1, dtype=np.int64)
        self.c_n = np.zeros(n, dtype=np.int64)
        self.c_lptr = np.zeros(n + 1, dtype=np.int64)
        olp = p.order_line_ptr
        np.cumsum(olp[ao + 1] - olp[ao], out=self.c_lptr[1:])
        n_l = int(self.c_lptr[-1])
        self.c_e = np.zeros(n_l, dtype=np.int64)
        self.c_q = np.zeros(n_l, dtype=np.int64)
        self.c_pk = np.zeros(n_l)
        self.c_arc = np.zeros(n_l, dtype=np.int64)
        self.c_node = np.zeros(n_l, dtype=np.int64)
        self.c_pool = np.zeros(n_l, dtype=np.int64)
        self.c_amt = np.zeros(n_l)
        self.c_reg = np.zeros(n)

    def forget(self) -> None:
        """Drop every kept bid (the state changed outside the rounds)."""
        self.epoch = self.round_no + 1

    def run(self, ao: np.ndarray, loc: np.ndarray, chunk: float | None
            ) -> tuple[int, int, np.ndarray, int]:
        """Bids of the active orders ``ao`` (``loc``: their places among the call's orders)
        and their acceptance: (bidders, the first bidder by priority, which orders of ``ao``
        are silent, orders accepted)."""
        p, st = self.p, self.st
        self.round_no += 1
        pool_finite, cap_finite, unit_use = self.flags
        (bidders, bid_loc, ent_ptr, b_e, b_q, b_pk, b_arc, b_node, b_pool, b_amt, reg,
         silent) = kernels.bid_round(
            ao, loc, self.mode, self.regret, p.order_line_ptr, p.line_e_ptr, p.e_arc,
            p.e_pool, p.e_ub, p.e_use, p.arc_node, p.order_arc_ptr, p.order_max_packages,
            st.x, st.arc_units, st.pool_left, st.cap_left, st.node_pk_left, st.order_npk,
            st.line_need, self.unit, self.fixed, self.penalty, pool_finite, cap_finite,
            unit_use, self.round_no, self.epoch, self.pool_stamp, self.node_stamp,
            self.c_stamp, self.c_n, self.c_lptr, self.c_e, self.c_q, self.c_pk, self.c_arc,
            self.c_node, self.c_pool, self.c_amt, self.c_reg)
        nb = len(bidders)
        if nb == 0:
            return 0, -1, silent, 0
        self.is_bidder[bid_loc] = True
        self.pos[bid_loc] = np.arange(nb)
        seq = self.by_tiebreak[self.is_bidder[self.by_tiebreak]]
        self.is_bidder[bid_loc] = False
        order_rank = self.pos[seq]  # bidders by tiebreak ("sequence": the priority)
        if self.regret:
            order_rank = order_rank[np.argsort(-reg[order_rank], kind="stable")]
        n_bid = nb if chunk is None else min(nb, max(1, math.ceil(chunk * nb)))
        accepted, n_acc = kernels.accept_round(
            order_rank, ent_ptr, b_q, b_pk, b_node, b_pool, b_amt, n_bid, 4, 2, True,
            st.pool_left, st.cap_left, st.node_pk_left, self.round_no, self.pool_stamp,
            self.node_stamp, self.pool_lim, self.cap_lim)
        kernels.apply_round(bidders, bid_loc, ent_ptr, accepted, b_e, b_q, b_pk, b_arc,
                            p.e_line, st.x, st.arc_units, st.line_need, st.order_npk,
                            self.c_stamp)
        return nb, int(bidders[order_rank[0]]), silent, int(n_acc)


_FLAGS: weakref.WeakKeyDictionary[Problem, tuple[bool, bool, bool]] = \
    weakref.WeakKeyDictionary()


def _flags(p: Problem) -> tuple[bool, bool, bool]:
    """(any finite pool, any finite node capacity, every line-arc uses one unit per unit)."""
    f = _FLAGS.get(p)
    if f is None:
        f = _FLAGS[p] = (bool(np.isfinite(p.pool_qty).any()),
                         bool(np.isfinite(p.node_capacity).any()),
                         bool((p.e_use == 1.0).all()))
    return f


def _order_short(p: Problem, st: State, orders: np.ndarray) -> np.ndarray:
    lines = expand_ranges(p.order_line_ptr[orders],
                          p.order_line_ptr[orders + 1] - p.order_line_ptr[orders])
    seg = np.repeat(np.arange(len(orders)), p.order_line_ptr[orders + 1]
                    - p.order_line_ptr[orders])
    return np.bincount(seg, weights=st.line_need[lines], minlength=len(orders))


def insert_sequential(p: Problem, st: State, orders: np.ndarray, pr: Prices) -> None:
    """Route ``orders`` one by one (exact per order given what is left): the cheaper of the
    best single node shipping every short line, or line by line the cheapest marginal source
    (an open package costs only its unit price), splitting a line where stock is short."""
    lep = p.line_e_ptr
    for o in np.asarray(orders).tolist():
        lines = [ln for ln in range(int(p.order_line_ptr[o]), int(p.order_line_ptr[o + 1]))
                 if st.line_need[ln] > 0]
        if not lines:
            continue
        slots = int(p.order_max_packages[o] - st.order_npk[o])
        opened: set[int] = set()
        pool_left: dict[int, float] = {}
        cap_left: dict[int, float] = {}
        chosen: list[tuple[int, int]] = []
        for ln in sorted(lines, key=lambda k: -float(pr.penalty[k]) * int(st.line_need[k])):
            need = int(st.line_need[ln])
            pen = float(pr.penalty[ln])
            while need > 0:
                best_e, best_rate, best_q = -1, math.inf, 0
                for e in range(int(lep[ln]), int(lep[ln + 1])):
                    a = int(p.e_arc[e])
                    n = int(p.arc_node[a])
                    pool = pool_left.get(int(p.e_pool[e]), float(st.pool_left[p.e_pool[e]]))
                    cap = cap_left.get(n, float(st.cap_left[n]))
                    qf = min(need, pool, float(p.e_ub[e] - st.x[e]))
                    use = float(p.e_use[e])
                    if use > 0 and cap < math.inf:
                        qf = min(qf, math.floor(cap / use + EPS))
                    q = int(qf)
                    if q <= 0:
                        continue
                    if st.arc_units[a] > 0 or a in opened:
                        rate = float(pr.unit[e])
                    else:
                        if len(opened) >= slots or st.node_pk_left[n] < 1 - EPS:
                            continue
                        rate = float(pr.unit[e]) + float(pr.fixed[a]) / q
                    if rate < best_rate - 1e-12 or (rate <= best_rate + 1e-12 and q > best_q):
                        best_e, best_rate, best_q = e, rate, q
                if best_e < 0 or best_rate >= pen:
                    break
                e = best_e
                a = int(p.e_arc[e])
                n = int(p.arc_node[a])
                chosen.append((e, best_q))
                if st.arc_units[a] == 0:
                    opened.add(a)
                pk = int(p.e_pool[e])
                pool_left[pk] = pool_left.get(pk, float(st.pool_left[pk])) - best_q
                cap_left[n] = cap_left.get(n, float(st.cap_left[n])) - best_q * float(p.e_use[e])
                need -= best_q
        if chosen:
            agg: dict[int, int] = {}
            for e, q in chosen:
                agg[e] = agg.get(e, 0) + q
            st.add(np.array(list(agg), dtype=np.int64),
                   np.array(list(agg.values()), dtype=np.int64))


def tiebreak_keys(p: Problem, seed: int) -> np.ndarray:
    """Seeded tie-break keys over orders (same seed, same keys)."""
    if p.n_orders <= 1:  # the permutation of one order, without making a generator
        return np.zeros(p.n_orders, dtype=np.int64)
    return np.random.default_rng(seed).permutation(p.n_orders)


def complete_must_fill(p: Problem, x: np.ndarray, rng: np.random.Generator | int,
                       deadline: Budget | None = None, polish: bool = True
                       ) -> np.ndarray | None:
    """Fill must-fill lines left short (GAP): repair by shift and swap moves (then a quick
    descent when ``polish``). ``None`` if it cannot be done (in time). ``rng``: the
    generator, or the seed of one (made only where there is something to fill)."""
    if not p.must_fill:
        return x  # a routing batch
    short = (p.line_qty - line_shipped(p, x)) > 0
    if not (short & np.isinf(p.line_penalty)).any():
        return x
    from router.solvers.heuristics import assign

    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)

    if not assign.is_assignment(p):
        return None
    M = assign.Matrices(p)
    a = assign.repair(M, M.from_x(p, x), rng, deadline, max_iter=5_000)
    if a is None:
        # restart from the regret constructions (by cost, then by share of capacity used)
        starts = [assign.regret_assign(M), assign.regret_assign(M, by_capacity=True)]
        for start in starts:
            if deadline is not None and deadline.expired():
                break
            a = assign.repair(M, start, rng, deadline)
            if a is not None:
                break
    if a is None:
        return None
    if polish:
        a = assign.improve(M, a, rng, deadline, kick=False)
    return M.to_x(p, a)


def feasible(p: Problem, x: np.ndarray) -> bool:
    """A quick check that ``x`` keeps every constraint (the compiled twin of
    :func:`router.evaluate.violations`, which names what is broken); False (also where the
    compiled loops are off) is to be confirmed by ``violations``."""
    if not jit.ENABLED or x.shape != (p.n_line_arcs,):
        return False
    return bool(kernels.feasible(np.ascontiguousarray(x, dtype=np.int64), p.e_line, p.e_arc,
                                 p.e_pool, p.e_ub, p.e_use, p.arc_node, p.arc_order,
                                 p.line_qty, p.line_penalty, p.pool_qty, p.node_max_packages,
                                 p.node_capacity, p.order_max_packages, p.n_arcs, 1e-6))


_TINY: dict[str, Any] = {
    "name": "warm-up",
    "shipping": {"zones": [{"max_km": 100.0, "per_package": 1.0, "per_kg": 0.1},
                           {"max_km": 2000.0, "per_package": 2.0, "per_kg": 0.2}]},
    "unfilled_penalty": 50.0,
    "skus": [{"id": "A", "weight_kg": 1.0}, {"id": "B", "weight_kg": 2.0}],
    "nodes": [{"id": "W", "kind": "warehouse", "lat": 30.0, "lon": 120.0, "max_units": 3,
               "inventory": {"A": 2, "B": 2}},
              {"id": "S", "kind": "store", "lat": 30.1, "lon": 120.1, "service_radius_km": 50.0,
               "inventory": {"A": 1}}],
    "orders": [{"id": "O1", "lat": 30.05, "lon": 120.05, "lines": [{"sku": "A", "qty": 2},
                                                                   {"sku": "B", "qty": 1}]},
               {"id": "O2", "lat": 30.0, "lon": 120.0, "lines": [{"sku": "A", "qty": 1}]}],
}


def warm_up() -> None:
    """Load the compiled loops of compilation, of the bidding rounds, and of the tabu search
    and the knapsacks of assignment batches (compile them, the first time after an install)
    on tiny batches, so that no real batch pays for it. Runs once, when this module is
    imported (with :mod:`router`). Where numba fails, the numpy paths are used instead and
    the failure is logged."""
    if not jit.ENABLED:
        return
    from router.compile import compile_problem
    from router.instance import Instance

    try:
        p = compile_problem(Instance.from_dict(_TINY))
        st = State(p)
        insert_orders(p, st, np.arange(p.n_orders), true_prices(p), engine="jit")
        feasible(p, st.x)
        from router.solvers.heuristics import assign

        assign.warm_up()
        from router.solvers.bounds import knapsack

        knapsack.warm_up()
    except Exception:  # pragma: no cover  (a broken numba installation)
        log.warning("compiled loops unavailable; using the numpy paths", exc_info=True)
        jit.ENABLED = False


warm_up()
