"""The bidding rounds of :mod:`router.solvers.heuristics.core` as compiled loops (numba).

:func:`bid_round` computes, order by order, exactly what :func:`core.make_bids` computes with
whole-array passes (standalone options, the primary arc, the rest, partial quantities, the
package limit, the order's regret), and :func:`accept_round` what :func:`core.accept_bids`
does (blocks of ranks, cumulated demand per stock pool, node unit and package capacity, two
passes, claims held for the bids still out). The arithmetic is the same operations on the
same values in the same order (sums in line-arc order, minima, first index of a minimum), so
both give the same plan; tests compare them on random instances. A round costs one pass over
the line-arcs of the orders still active, with no temporaries beyond a few per-order buffers.
"""

from __future__ import annotations

import numpy as np

from router.jit import njit

EPS = 1e-9
MODES = {"cost": 0, "complete": 1, "cover": 2}
_COMPLETE = 1
_COVER = 2


@njit
def bid_round(ao, ao_loc, mode, regret, olp, lep, e_arc, e_pool, e_ub, e_use, arc_node, oap,
              order_maxp, x, arc_units, pool_left, cap_left, node_pk_left, order_npk,
              line_need, pr_unit, pr_fixed, pr_pen, pool_finite, cap_finite, unit_use,
              round_no, epoch, pool_stamp, node_stamp, c_stamp, c_n, c_lptr, c_e, c_q, c_pk,
              c_arc, c_node, c_pool, c_amt,
              c_reg):  # pragma: no cover  (compiled; its numpy twin is core.make_bids)
    """One bid per active order ``ao`` (sorted; ``ao_loc``: their indices in the cache).
    Returns the bidders (order ids, in ``ao`` order, and their cache indices), their entries
    (``ent_ptr`` into the entry arrays: line-arc, units, package counted (the first entry of
    a new arc), arc, node, pool, capacity used), each bidder's regret, and which orders of
    ``ao`` are silent.

    A bid is a function of the order's own state (only its own acceptance changes it) and of
    the stock, unit capacity and packages left at the pools and nodes of its line-arcs. Each
    order's last bid is kept (``c_*``, computed in round ``c_stamp``); where none of those
    pools and nodes changed since (``pool_stamp``, ``node_stamp``: the last round that changed
    each), the kept bid is the bid and is not computed again."""
    inf = np.inf
    n_ao = len(ao)
    tot_l = 0
    max_l = 1
    max_e = 1
    max_a = 1
    for i in range(n_ao):
        o = ao[i]
        nl = olp[o + 1] - olp[o]
        tot_l += nl
        max_l = max(max_l, nl)
        max_e = max(max_e, lep[olp[o + 1]] - lep[olp[o]])
        max_a = max(max_a, oap[o + 1] - oap[o])
    b_e = np.empty(tot_l, dtype=np.int64)
    b_q = np.empty(tot_l, dtype=np.int64)
    b_new = np.empty(tot_l, dtype=np.bool_)
    b_pk = np.empty(tot_l, dtype=np.float64)
    b_arc = np.empty(tot_l, dtype=np.int64)
    b_node = np.empty(tot_l, dtype=np.int64)
    b_pool = np.empty(tot_l, dtype=np.int64)
    b_amt = np.empty(tot_l, dtype=np.float64)
    bidders = np.empty(n_ao, dtype=np.int64)
    bid_loc = np.empty(n_ao, dtype=np.int64)
    ent_ptr = np.zeros(n_ao + 1, dtype=np.int64)
    reg_out = np.zeros(n_ao, dtype=np.float64)
    silent = np.zeros(n_ao, dtype=np.bool_)
    # per-order buffers: line-arcs (local index e - e_base), lines (l - l0), arcs (a - a0)
    AV = np.empty(max_e)
    FE = np.empty(max_e)
    LC = np.empty(max_e)
    GN = np.empty(max_e)
    JA = np.empty(max_e, dtype=np.int64)
    ISOP = np.empty(max_e, dtype=np.bool_)
    USE = np.empty(max_e, dtype=np.bool_)
    FULL = np.empty(max_e, dtype=np.bool_)
    SEC = np.empty(max_e, dtype=np.bool_)
    ACT = np.empty(max_l, dtype=np.bool_)
    ALT = np.empty(max_l)
    LREG = np.empty(max_l)
    AG = np.empty(max_a)
    NF = np.empty(max_a)
    SCORE = np.empty(max_a)
    nb = 0
    ne = 0
    for i in range(n_ao):
        o = ao[i]
        loc = ao_loc[i]
        l0 = olp[o]
        l1 = olp[o + 1]
        cs = c_stamp[loc]
        if cs >= epoch:  # a kept bid: still the bid unless a pool or node of it changed
            clean = True
            for ln in range(l0, l1):
                if line_need[ln] <= 0:
                    continue
                for e in range(lep[ln], lep[ln + 1]):
                    if pool_stamp[e_pool[e]] >= cs or node_stamp[arc_node[e_arc[e]]] >= cs:
                        clean = False
                        break
                if not clean:
                    break
            if clean:
                k = c_n[loc]
                if k == 0:
                    silent[i] = True
                    continue
                c0 = c_lptr[loc]
                for j in range(k):
                    b_e[ne + j] = c_e[c0 + j]
                    b_q[ne + j] = c_q[c0 + j]
                    b_pk[ne + j] = c_pk[c0 + j]
                    b_arc[ne + j] = c_arc[c0 + j]
                    b_node[ne + j] = c_node[c0 + j]
                    b_pool[ne + j] = c_pool[c0 + j]
                    b_amt[ne + j] = c_amt[c0 + j]
                ne += k
                bidders[nb] = o
                bid_loc[nb] = loc
                ent_ptr[nb + 1] = ne
                reg_out[nb] = c_reg[loc]
                nb += 1
                continue
        c_stamp[loc] = round_no
        c_n[loc] = 0
        e_base = lep[l0]
        a0 = oap[o]
        a1 = oap[o + 1]
        slots = order_maxp[o] - order_npk[o]
        n_act = 0
        for ln in range(l0, l1):
            act = line_need[ln] > 0 and lep[ln + 1] > lep[ln]
            ACT[ln - l0] = act
            if act:
                n_act += 1
        if n_act == 0:
            silent[i] = True
            continue
        for j in range(a1 - a0):
            AG[j] = 0.0
            NF[j] = 0.0
        # 1. standalone options (a secondary line may open a package only if two slots are
        # left), the line's regret, and the gains of shipping it whole on each arc
        for ln in range(l0, l1):
            li = ln - l0
            if not ACT[li]:
                continue
            need = float(line_need[ln])
            m1 = inf  # the cheapest standalone option
            m2 = inf  # the cheapest other than the first cheapest
            for e in range(lep[ln], lep[ln + 1]):
                k = e - e_base
                a = e_arc[e]
                n = arc_node[a]
                av = min(need, float(e_ub[e] - x[e]))
                if pool_finite:
                    av = min(av, pool_left[e_pool[e]])
                if cap_finite:
                    if unit_use:
                        av = min(av, np.floor(cap_left[n] + EPS))
                    elif e_use[e] > 0:
                        av = min(av, np.floor(cap_left[n] / e_use[e] + EPS))
                isop = arc_units[a] > 0
                usable = av >= 1 and (isop or (node_pk_left[n] >= 1 - EPS and slots >= 1))
                full = usable and av >= need
                fe = 0.0 if isop else pr_fixed[a]
                lc = need * pr_unit[e]
                sec = full and (isop or slots >= 2)
                sc = lc + fe if sec else inf
                AV[k] = av
                FE[k] = fe
                LC[k] = lc
                JA[k] = a - a0
                ISOP[k] = isop
                USE[k] = usable
                FULL[k] = full
                SEC[k] = sec
                if sc < m1:
                    m2 = min(m2, m1)
                    m1 = sc
                else:
                    m2 = min(m2, sc)
            pen_need = need * pr_pen[ln]
            alt = min(m1, pen_need)
            ALT[li] = alt
            if regret:
                LREG[li] = min(m2, pen_need) - alt if np.isfinite(m1) else 0.0
            for e in range(lep[ln], lep[ln + 1]):
                k = e - e_base
                if FULL[k]:
                    g = alt - LC[k]
                    if g < 0.0:
                        g = 0.0
                    NF[JA[k]] += 1.0
                else:
                    g = 0.0
                GN[k] = g
                AG[JA[k]] += g
        # 2. the primary arc: the one whose lines, shipped together there, save most
        best = inf
        for a in range(a0, a1):
            j = a - a0
            aop = arc_units[a] > 0
            acan = aop or (node_pk_left[arc_node[a]] >= 1 - EPS and slots >= 1)
            fa = 0.0 if aop else pr_fixed[a]
            if mode == _COMPLETE:
                s = fa if (acan and NF[j] >= n_act) else inf
            else:
                s = fa - AG[j]
                if (not acan) or s >= -EPS or AG[j] <= EPS:
                    s = inf
            SCORE[j] = s
            if s < best:
                best = s
        prim = -1
        if np.isfinite(best):
            for a in range(a0, a1):
                if SCORE[a - a0] == best:
                    prim = a
                    break
        second_arc = inf
        if regret:
            for a in range(a0, a1):
                if a != prim and SCORE[a - a0] < second_arc:
                    second_arc = SCORE[a - a0]
        has_prim = prim >= 0
        jp = prim - a0
        # 3. the bid: primary lines, then the rest given the primary is open; lines that no
        # line-arc ships whole, the best partial rate
        start = ne
        n_new = 0
        for ln in range(l0, l1):
            li = ln - l0
            if not ACT[li]:
                continue
            need = float(line_need[ln])
            pen = pr_pen[ln]
            chosen = -1
            qv = need
            prim_k = -1
            alt2 = inf
            k2 = -1
            for e in range(lep[ln], lep[ln + 1]):
                k = e - e_base
                at = JA[k] == jp
                if at and FULL[k] and (mode == _COMPLETE or GN[k] > EPS):
                    prim_k = k
                fixed2 = 0.0 if at else FE[k]
                if SEC[k] or (at and FULL[k]):
                    sc2 = LC[k] + fixed2
                    if sc2 < alt2:
                        alt2 = sc2
                        k2 = k
            if prim_k >= 0:  # a primary line: ships whole on the primary
                chosen = prim_k
            elif mode == _COVER and has_prim:
                chosen = -1
            elif np.isfinite(alt2):
                if alt2 < need * pen - EPS:
                    chosen = k2
            else:
                best_rate = inf
                kr = -1
                for e in range(lep[ln], lep[ln + 1]):
                    k = e - e_base
                    if USE[k] and (ISOP[k] or JA[k] == jp or slots >= 2):
                        fixed2 = 0.0 if JA[k] == jp else FE[k]
                        rate = pr_unit[e] + fixed2 / max(AV[k], 1.0)
                        if rate < best_rate:
                            best_rate = rate
                            kr = k
                if kr >= 0 and best_rate < pen - EPS:
                    chosen = kr
                    qv = AV[kr]
            if chosen >= 0:
                e = e_base + chosen
                b_e[ne] = e
                b_q[ne] = np.int64(qv)
                isnew = not ISOP[chosen]
                b_new[ne] = isnew
                b_arc[ne] = a0 + JA[chosen]
                if isnew:
                    n_new += 1
                ne += 1
        # package limit: the primary first, then other new arcs by index, within the slots
        if n_new > slots:
            out = start
            for j in range(start, ne):
                keep = True
                if b_new[j]:
                    a = b_arc[j]
                    # rank of arc a among the distinct new arcs, by (not primary, arc)
                    rank = 0
                    for jj in range(start, ne):
                        aa = b_arc[jj]
                        if not b_new[jj] or aa == a:
                            continue
                        dup = False
                        for j3 in range(start, jj):
                            if b_new[j3] and b_arc[j3] == aa:
                                dup = True
                                break
                        if not dup and (aa == prim or (a != prim and aa < a)):
                            rank += 1
                    keep = rank < slots
                if keep:
                    b_e[out] = b_e[j]
                    b_q[out] = b_q[j]
                    b_new[out] = b_new[j]
                    b_arc[out] = b_arc[j]
                    out += 1
            ne = out
        if ne == start:
            silent[i] = True
            continue
        for j in range(start, ne):
            e = b_e[j]
            a = b_arc[j]
            b_node[j] = arc_node[a]
            b_pool[j] = e_pool[e]
            b_amt[j] = b_q[j] * e_use[e]
            pk = 0.0
            if b_new[j]:
                pk = 1.0
                for jj in range(start, j):
                    if b_new[jj] and b_arc[jj] == a:
                        pk = 0.0
                        break
            b_pk[j] = pk
        bidders[nb] = o
        bid_loc[nb] = loc
        ent_ptr[nb + 1] = ne
        if regret:
            r = second_arc - best if np.isfinite(second_arc) else -best
            if not np.isfinite(best):
                r = 0.0
            olr = -inf
            for ln in range(l0, l1):
                li = ln - l0
                if ACT[li] and LREG[li] > olr:
                    olr = LREG[li]
            reg_out[nb] = max(r, olr)
        # keep the bid
        c0 = c_lptr[loc]
        c_n[loc] = ne - start
        c_reg[loc] = reg_out[nb]
        for j in range(ne - start):
            c_e[c0 + j] = b_e[start + j]
            c_q[c0 + j] = b_q[start + j]
            c_pk[c0 + j] = b_pk[start + j]
            c_arc[c0 + j] = b_arc[start + j]
            c_node[c0 + j] = b_node[start + j]
            c_pool[c0 + j] = b_pool[start + j]
            c_amt[c0 + j] = b_amt[start + j]
        nb += 1
    return (bidders[:nb], bid_loc[:nb], ent_ptr[:nb + 1], b_e[:ne], b_q[:ne], b_pk[:ne],
            b_arc[:ne], b_node[:ne], b_pool[:ne], b_amt[:ne], reg_out[:nb], silent)


@njit
def accept_round(rank_order, ent_ptr, b_q, b_pk, b_node, b_pool, b_amt, n_bid, n_blocks,
                 retries, reserve, pool_left, cap_left, node_pk_left, round_no, pool_stamp,
                 node_stamp, pool_lim,
                 cap_lim):  # pragma: no cover  (compiled; its numpy twin: accept_bids)
    """Which bidders' bids are accepted, ranks taken in order (``rank_order``: bidder
    indices by rank; see :func:`core.accept_bids`). Stock, unit and package capacity left
    are updated here, the units themselves by :func:`apply_round`.

    Pools and nodes whose change may change a bid are stamped with ``round_no``: a bid reads
    stock and unit capacity only through ``min(need, stock, capacity)``, which cannot change
    while they stay at ``pool_lim`` / ``cap_lim`` (a line's largest need) or more, and
    packages left only as at least one or not."""
    n_pool = len(pool_left)
    n_nodes = len(cap_left)
    held_pool = np.zeros(n_pool)
    held_cap = np.zeros(n_nodes)
    held_pk = np.zeros(n_nodes)
    run_pool = np.zeros(n_pool)
    run_cap = np.zeros(n_nodes)
    run_pk = np.zeros(n_nodes)
    accepted = np.zeros(len(ent_ptr) - 1, dtype=np.bool_)
    # the entries in rank order, so that the passes below read them in sequence
    r_ptr = np.zeros(n_bid + 1, dtype=np.int64)
    for r in range(n_bid):
        b = rank_order[r]
        r_ptr[r + 1] = r_ptr[r] + ent_ptr[b + 1] - ent_ptr[b]
    n_ent = r_ptr[n_bid]
    r_q = np.empty(n_ent)
    r_pk = np.empty(n_ent)
    r_node = np.empty(n_ent, dtype=np.int64)
    r_pool = np.empty(n_ent, dtype=np.int64)
    r_amt = np.empty(n_ent)
    for r in range(n_bid):
        b = rank_order[r]
        j = r_ptr[r]
        for jb in range(ent_ptr[b], ent_ptr[b + 1]):
            r_q[j] = b_q[jb]
            r_pk[j] = b_pk[jb]
            r_node[j] = b_node[jb]
            r_pool[j] = b_pool[jb]
            r_amt[j] = b_amt[jb]
            j += 1
    ok_pool = np.zeros(n_ent, dtype=np.bool_)
    ok_cap = np.zeros(n_ent, dtype=np.bool_)
    ok_pk = np.zeros(n_ent, dtype=np.bool_)
    size = max(256, -(-n_bid // n_blocks))
    cur = np.empty(max(n_bid, 1), dtype=np.int64)  # ranks still out in the block
    n_acc = 0
    lo = 0
    while lo < n_bid:
        hi = min(n_bid, lo + size)
        m = 0
        for r in range(lo, hi):
            cur[m] = r
            m += 1
        for _ in range(retries):
            if m == 0:
                break
            # cumulated demand, in rank order, against what is left less what is held
            for i in range(m):
                r = cur[i]
                for j in range(r_ptr[r], r_ptr[r + 1]):
                    pl = r_pool[j]
                    n = r_node[j]
                    run_pool[pl] += r_q[j]
                    ok_pool[j] = run_pool[pl] <= (pool_left[pl] - held_pool[pl]) + 1e-6
                    run_cap[n] += r_amt[j]
                    ok_cap[j] = run_cap[n] <= (cap_left[n] - held_cap[n]) + 1e-6
                    run_pk[n] += r_pk[j]
                    ok_pk[j] = run_pk[n] <= (node_pk_left[n] - held_pk[n]) + 1e-6
            for i in range(m):
                r = cur[i]
                for j in range(r_ptr[r], r_ptr[r + 1]):
                    run_pool[r_pool[j]] = 0.0
                    run_cap[r_node[j]] = 0.0
                    run_pk[r_node[j]] = 0.0
            m2 = 0
            for i in range(m):
                r = cur[i]
                good = True
                for j in range(r_ptr[r], r_ptr[r + 1]):
                    if not (ok_pool[j] and ok_cap[j] and ok_pk[j]):
                        good = False
                        break
                if not good:
                    cur[m2] = r
                    m2 += 1
                    continue
                n_acc += 1
                accepted[rank_order[r]] = True
                for j in range(r_ptr[r], r_ptr[r + 1]):
                    pl = r_pool[j]
                    n = r_node[j]
                    pool_left[pl] -= r_q[j]
                    cap_left[n] -= r_amt[j]
                    node_pk_left[n] -= r_pk[j]
                    if pool_left[pl] < pool_lim:
                        pool_stamp[pl] = round_no
                    if cap_left[n] < cap_lim or (r_pk[j] > 0.0 and node_pk_left[n] < 1.0):
                        node_stamp[n] = round_no
            m = m2
        if reserve and m > 0 and hi < n_bid:
            for i in range(m):
                r = cur[i]
                for j in range(r_ptr[r], r_ptr[r + 1]):
                    if ok_pool[j]:
                        held_pool[r_pool[j]] += r_q[j]
                    if ok_cap[j]:
                        held_cap[r_node[j]] += r_amt[j]
                    if ok_pk[j]:
                        held_pk[r_node[j]] += r_pk[j]
        lo = hi
    return accepted, n_acc


@njit
def apply_round(bidders, bid_loc, ent_ptr, accepted, b_e, b_q, b_pk, b_arc, e_line, x,
                arc_units, line_need, order_npk, c_stamp):  # pragma: no cover  (compiled)
    """The units of the accepted bids (in order of the orders, so memory is read in
    sequence): line-arcs, lines, arcs and the orders' package counts. The kept bids of the
    orders accepted are dropped."""
    for b in range(len(bidders)):
        if not accepted[b]:
            continue
        o = bidders[b]
        c_stamp[bid_loc[b]] = -1
        for j in range(ent_ptr[b], ent_ptr[b + 1]):
            e = b_e[j]
            q = b_q[j]
            x[e] += q
            line_need[e_line[e]] -= q
            arc_units[b_arc[j]] += q
            if b_pk[j] > 0.0:
                order_npk[o] += 1


@njit
def feasible(x, e_line, e_arc, e_pool, e_ub, e_use, arc_node, arc_order, line_qty,
             line_penalty, pool_qty, node_max_packages, node_capacity, order_max_packages,
             n_arcs, tol):  # pragma: no cover  (compiled; its twin: evaluate.violations)
    """Whether ``x`` keeps every constraint that :func:`router.evaluate.violations` checks
    (one pass over the line-arcs, sums in the same order)."""
    n_e = len(x)
    arc_units = np.zeros(n_arcs)
    shipped = np.zeros(len(line_qty))
    pool_used = np.zeros(len(pool_qty))
    node_use = np.zeros(len(node_capacity))
    for e in range(n_e):
        q = x[e]
        if q < 0 or q > e_ub[e]:
            return False
        a = e_arc[e]
        arc_units[a] += q
        shipped[e_line[e]] += q
        pool_used[e_pool[e]] += q
        node_use[arc_node[a]] += q * e_use[e]
    for ln in range(len(line_qty)):
        s = np.int64(shipped[ln])
        if s > line_qty[ln] or (np.isinf(line_penalty[ln]) and s < line_qty[ln]):
            return False
    for k in range(len(pool_qty)):
        if pool_used[k] > pool_qty[k] + tol:
            return False
    node_pk = np.zeros(len(node_capacity))
    order_pk = np.zeros(len(order_max_packages), dtype=np.int64)
    for a in range(n_arcs):
        if arc_units[a] > 0:
            node_pk[arc_node[a]] += 1.0
            order_pk[arc_order[a]] += 1
    for n in range(len(node_capacity)):
        if node_pk[n] > node_max_packages[n] + tol or node_use[n] > node_capacity[n] + tol:
            return False
    for o in range(len(order_max_packages)):  # noqa: SIM110  (compiled: no generators)
        if order_pk[o] > order_max_packages[o]:
            return False
    return True
