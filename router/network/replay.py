"""Replaying a day: rolling batches over a simulated clock.

A batch closes every ``window`` seconds of the day (``window`` 0: each order is routed alone,
at its arrival, as a real-time system does) and is routed against the network as the earlier
batches and the day's events left it: :meth:`Network.route` then :meth:`Network.commit`, then
every store package is accepted by the store with the store's acceptance probability (a
seeded draw) or declined and re-routed in the next batch without that store. Events between
batches (walk-in sales, replenishments, counts, cancellations) are applied at their times.

Which orders go into which batch depends only on the day and the window, never on how long
routing took, so a day replays to the same result for a seed when the solver's budget is
work, not time (``work_limit``; ``greedy`` always does the same work). The time routing takes is measured (CPU seconds of this process, and wall
seconds) and played into the simulated clock: batch ``k`` closing at ``c_k`` starts when the
router is free, ``s_k = max(c_k, f_{k-1})``, and is routed at ``f_k = s_k + L_k``. The
orders' delays (arrival to routed) and the routed rate over the day come from ``f_k``; a
router that cannot keep up shows as growing delays. By default the replay runs as fast as
possible; ``pace`` 1 waits for the wall clock to reach each batch's close (real time), ``pace``
k runs k times faster than real time.

``solver_options`` are the solver's parameters (validated by its parameter class, as
``router.solve`` takes them by keyword). A solver that keeps resources across calls (the
``distributed`` solver's executor: its worker processes, or Ray and its actors) has them
started once for the whole replay and stopped at its end, also on an error or Ctrl-C
(:func:`router.solvers.registry.session`); every batch runs on them. The executor's figures
(its starts, the batches it routed, what each worker served) are ``metrics["executor"]``.

:func:`headroom` measures the highest arrival rate one core sustains for a window (p99
latency within the window), :func:`hindsight_bound` a lower bound on the day's cost by any
policy (the whole day as one batch, relaxed).
"""

from __future__ import annotations

import logging
import math
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.compile import compile_batch
from router.contract import Params
from router.errors import InputError
from router.network.events import Day
from router.network.ledger import ACTIVE
from router.network.network import Network
from router.solvers.registry import session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayOptions:
    window: float = 10.0  # seconds between batch closes; 0: each order at its arrival
    solver: str = "greedy"
    time_limit: float | None = None  # per batch
    work_limit: int | None = None  # per batch, in the solver's work units (repeats exactly)
    seed: int = 0
    pace: float = 0.0  # 0: as fast as possible; 1: real time; k: k times real time
    declines: bool = True  # simulate store declines from the acceptance probabilities
    # the solver's parameters by name, e.g. {"executor": "ray", "workers": 2}
    solver_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # an unknown solver or option name is an error naming the valid ones
        self.solver_params()
        object.__setattr__(self, "solver_options", dict(self.solver_options))  # a copy
        problems = []
        if not (self.window >= 0 and math.isfinite(self.window)):
            problems.append(("window", "must be a number of seconds >= 0"))
        if self.time_limit is not None and not (self.time_limit >= 0
                                                and math.isfinite(self.time_limit)):
            problems.append(("time_limit", "must be a number of seconds >= 0"))
        if self.work_limit is not None and (isinstance(self.work_limit, bool)
                                            or not isinstance(self.work_limit, int)
                                            or self.work_limit < 0):
            problems.append(("work_limit", "must be a non-negative integer"))
        if not (self.pace >= 0 and math.isfinite(self.pace)):
            problems.append(("pace", "must be 0 (as fast as possible) or a positive factor"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            problems.append(("seed", "must be a non-negative integer"))
        if problems:
            raise InputError(problems, "replay")

    def solver_params(self) -> Params:
        """The solver's parameters (its defaults, with ``solver_options``)."""
        from router.solvers.registry import get

        return get(self.solver).params.build(self.solver_options, self.solver)


@dataclass
class ReplayResult:
    """What a replay measured (arrays per batch, per order, and the day's totals)."""

    options: ReplayOptions
    network: str
    day_orders: int
    duration: float
    batches: dict[str, np.ndarray]
    order_arrival: np.ndarray  # per order of the day
    order_routed: np.ndarray  # simulated time its first batch was routed (nan: never)
    metrics: dict[str, Any]
    wall_seconds: float
    cpu_seconds: float
    network_after: Network | None = field(default=None, repr=False)


_BATCH_FIELDS = ("close", "start", "finish", "new", "offered", "cpu", "wall", "compile",
                 "solve", "verify", "commit", "objective", "packages", "units", "waiting",
                 "cancelled", "declined")


def check_day(network: Network, day: Day) -> None:
    """A day can be replayed on ``network``: its orders are not in the ledger yet and its
    first event is not before the ledger's clock (bad input otherwise; nothing changed)."""
    known = network.ledger.order_index
    problems = [(f"line {int(day.order_file_line[i])}: id",
                 f"order {oid!r} is already in the ledger")
                for i, oid in enumerate(day.order_ids) if oid in known][:20]
    first = min(float(day.order_t[0]) if day.n_orders else math.inf,
                day.events[0].t if day.events else math.inf)
    if first < network.clock:
        problems.append(("", f"the day starts at {first:g} s, before the ledger's clock "
                             f"({network.clock:g} s)"))
    if problems:
        raise InputError(problems, "replay")


class _Replay:
    def __init__(self, net: Network, day: Day, opt: ReplayOptions,
                 progress: Callable[[float, dict[str, Any]], None] | None) -> None:
        self.net, self.day, self.opt, self.progress = net, day, opt, progress
        self.accept: dict[int, float] = {}
        self.rng = np.random.default_rng([opt.seed, 20201111])
        self.log = {k: array("d") for k in _BATCH_FIELDS}  # compact: a day may hold millions
        self.routed = np.full(day.n_orders, np.nan)
        self.order_pos = {oid: i for i, oid in enumerate(day.order_ids)}
        self.open: dict[int, None] = {}  # orders of the batch being filled (insertion order)
        self.free_at = 0.0
        self.counts = {"dropped_before_routing": 0, "declines": 0, "declined_units": 0,
                       "cancels": 0, "walkin_short": 0, "recorded_declines_ignored": 0,
                       "unfilled_first": 0, "backordered": 0}
        self.node_ids = net.ledger.s.node_ids
        self.sku_ids = net.ledger.s.sku_ids
        self.is_store = net.ledger.s.node_store
        self.wall0 = time.perf_counter()
        self.next_report = self.wall0
        self.first_order = net.ledger.n_orders  # the day's orders are the ledger's from here

    # ---- events ----------------------------------------------------------------------------
    def event(self, j: int) -> None:
        ev = self.day.events[j]
        net = self.net
        if ev.type == "acceptance":
            self.accept[ev.node] = ev.p
            return
        net.advance(ev.t)
        if ev.type in ("sale", "count"):
            delta = net.adjust(self.node_ids[ev.node], self.sku_ids[ev.sku], ev.qty,
                               kind=ev.type)
            if ev.type == "sale":
                self.counts["walkin_short"] += ev.qty + delta  # sold beyond the count
        elif ev.type == "replenish":
            net.adjust(self.node_ids[ev.node], {self.sku_ids[s]: q for s, q in ev.items},
                       kind="replenish")
        elif ev.type == "cancel":
            self.counts["cancels"] += 1
            i = self.order_pos[ev.order]
            if i in self.open:
                del self.open[i]
                a, b = self.day.order_line_ptr[i], self.day.order_line_ptr[i + 1]
                self.counts["dropped_before_routing"] += int(self.day.line_qty[a:b].sum())
            elif ev.order in net.ledger.order_index:
                net.release(ev.order)
        elif ev.type == "decline":
            o = net.ledger.order_index.get(ev.order)
            ks = net.ledger.order_packages(o) if o is not None else np.zeros(0, np.int64)
            if o is not None and ((net.ledger.k_node.a[ks] == ev.node)
                                  & (net.ledger.k_state.a[ks] == ACTIVE)).any():
                self.counts["declines"] += 1
                self.counts["declined_units"] += net.decline(ev.order, self.node_ids[ev.node])
            else:
                self.counts["recorded_declines_ignored"] += 1

    # ---- batches ---------------------------------------------------------------------------
    def batch(self, close: float) -> None:
        net, opt = self.net, self.opt
        net.advance(close)
        idx = list(self.open)
        self.open.clear()
        if not idx and len(net.ledger.reoffer_lines()) == 0:
            return
        if opt.pace > 0:
            wait = self.wall0 + close / opt.pace - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        orders = self.day.orders(idx)
        c0, w0 = time.process_time(), time.perf_counter()
        plan = net.route(orders, time_limit=opt.time_limit, work_limit=opt.work_limit,
                         solver=opt.solver, seed=opt.seed, solver_options=opt.solver_options)
        c1 = time.perf_counter()
        res = net.commit(plan)
        c2 = time.perf_counter()
        declined = 0
        if opt.declines and self.accept:
            for sh in plan.shipments:
                ni = net.node_index[sh.node]
                p = self.accept.get(ni, 1.0)
                if self.is_store[ni] and p < 1.0 and self.rng.random() >= p:
                    declined += net.decline(sh.order, sh.node)
                    self.counts["declines"] += 1
        self.counts["declined_units"] += declined
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        start = max(close, self.free_at)
        self.free_at = finish = start + cpu
        if idx:
            self.routed[idx] = finish
        st = plan.stats
        lg = self.log
        for k, v in (("close", close), ("start", start), ("finish", finish), ("new", len(idx)),
                     ("offered", st.extra.get("backorders_offered", 0)), ("cpu", cpu),
                     ("wall", wall), ("compile", st.compile_seconds),
                     ("solve", st.solve_seconds + st.build_seconds),
                     ("verify", st.verify_seconds),
                     ("commit", c2 - c1), ("objective", plan.objective or 0.0),
                     ("packages", res.packages), ("units", res.units), ("waiting", res.waiting),
                     ("cancelled", res.cancelled), ("declined", declined)):
            lg[k].append(float(v))
        self.counts["unfilled_first"] += res.waiting + res.cancelled
        self.counts["backordered"] += res.waiting + declined
        if self.progress is not None and time.perf_counter() >= self.next_report:
            self.next_report = time.perf_counter() + 0.2
            self.progress(close / max(self.day.duration, 1e-9),
                          {"t": close, "batches": len(lg["close"]),
                           "orders": int(np.isfinite(self.routed).sum()),
                           "p99_ms": 1e3 * float(np.percentile(np.frombuffer(lg["cpu"])[-1000:],
                                                               99))})

    # ---- the day ---------------------------------------------------------------------------
    def run(self) -> ReplayResult:
        day, w = self.day, self.opt.window
        c_wall, c_cpu = time.perf_counter(), time.process_time()
        next_close = w
        for t, kind, i in day.stream():
            if w > 0:
                while t >= next_close:
                    self.batch(next_close)
                    next_close += w
            if kind == 0:
                self.open[i] = None
                if w == 0:
                    self.batch(t)
            else:
                self.event(i)
        end = max(day.duration, self.net.clock)
        if w > 0:
            while self.open or next_close <= end:
                self.batch(next_close)
                next_close += w
        self.net.advance(max(end, self.net.clock))
        return self.result(time.perf_counter() - c_wall, time.process_time() - c_cpu)

    def result(self, wall: float, cpu: float) -> ReplayResult:
        b = {k: np.frombuffer(v, dtype=np.float64).copy() for k, v in self.log.items()}
        m = metrics(self.net, self.day, b, self.routed, self.counts, self.opt,
                    self.first_order)
        return ReplayResult(self.opt, self.net.instance.name, self.day.n_orders,
                            self.day.duration, b, self.day.order_t, self.routed, m, wall, cpu,
                            self.net)


def replay(network: Network, day: Day, options: ReplayOptions | None = None, *,
           progress: Callable[[float, dict[str, Any]], None] | None = None) -> ReplayResult:
    """Replay ``day`` on ``network`` (changed in place; pass ``network.copy()`` to keep it)."""
    opt = options or ReplayOptions()
    check_day(network, day)
    with session(opt.solver, opt.solver_params()) as resources:  # e.g. the executor's workers
        res = _Replay(network, day, opt, progress).run()
    if resources is not None and hasattr(resources, "summary"):
        res.metrics["executor"] = resources.summary()
    return res


def _pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if len(a) else 0.0


def metrics(net: Network, day: Day, b: dict[str, np.ndarray], routed: np.ndarray,
            counts: dict[str, int], opt: ReplayOptions, first_order: int = 0
            ) -> dict[str, Any]:
    """The figures of a replay (of the day's orders, the ledger's from ``first_order``):
    latency, throughput, cost, packages, units."""
    led = net.ledger
    s = led.s
    acc = led.accounting(first_order)
    c = led.costs(first_order)
    active = (led.k_state.a == ACTIVE) & (led.k_order.a >= first_order)
    pk_order = np.bincount(led.k_order.a[active], minlength=led.n_orders)
    shipped_orders = int((pk_order > 0).sum())
    n_pk = int(active.sum())
    sl_active = np.repeat(active, led.k_n_lines.a)
    sl_store = s.node_store[s.pool_node[led.s_pool.a]]
    units = led.s_qty.a[sl_active]
    store_units = int(units[sl_store[sl_active]].sum())
    arrived_units = day.units()
    dropped_before = counts["dropped_before_routing"]
    total = c["package"] + c["unit"] + c["cancelled"] + c["waiting"]
    lat = b["cpu"]
    delay = routed - day.order_t
    delay = delay[np.isfinite(delay)]
    per_min = np.bincount((day.order_t // 60).astype(np.int64),
                          minlength=int(day.duration // 60) + 1) / 60.0
    per_s = np.bincount(day.order_t.astype(np.int64), minlength=int(day.duration) + 1)
    cpu_total = float(lat.sum())
    return {
        "window": opt.window, "solver": opt.solver,
        "solver_options": dict(opt.solver_options), "time_limit": opt.time_limit,
        "work_limit": opt.work_limit,
        "seed": opt.seed,
        "orders": day.n_orders, "batches": len(lat),
        "batch_orders_mean": float((b["new"] + b["offered"]).mean()) if len(lat) else 0.0,
        "batch_orders_max": int((b["new"] + b["offered"]).max()) if len(lat) else 0,
        "latency_p50": _pct(lat, 50), "latency_p99": _pct(lat, 99),
        "latency_max": float(lat.max()) if len(lat) else 0.0,
        "latency_wall_p50": _pct(b["wall"], 50), "latency_wall_p99": _pct(b["wall"], 99),
        "latency_wall_max": float(b["wall"].max()) if len(lat) else 0.0,
        "seconds_per_order": {k: float(b[k].sum()) / max(day.n_orders, 1)
                              for k in ("cpu", "compile", "solve", "verify", "commit")},
        "cpu_seconds": cpu_total,
        "throughput": day.n_orders / cpu_total if cpu_total > 0 else math.inf,
        "arrival_mean": day.n_orders / max(day.duration, 1e-9),
        "arrival_peak_minute": float(per_min.max()) if len(per_min) else 0.0,
        "arrival_peak_second": int(per_s.max()) if len(per_s) else 0,
        "delay_p50": _pct(delay, 50), "delay_p99": _pct(delay, 99),
        "delay_max": float(delay.max()) if len(delay) else 0.0,
        "kept_up": bool(opt.window == 0 or _pct(lat, 99) <= opt.window),
        "cost": {**c, "total": total},
        "cost_per_order": total / max(day.n_orders, 1),
        "packages": n_pk, "orders_shipped": shipped_orders,
        "packages_per_order": n_pk / max(shipped_orders, 1),
        "extra_shipments": n_pk - shipped_orders,
        "split_rate": float((pk_order > 1).sum()) / max(shipped_orders, 1),
        "store_share": store_units / max(int(units.sum()), 1),
        "units": {"arrived": arrived_units, "shipped": acc.shipped, "waiting": acc.waiting,
                  "cancelled": acc.cancelled, "dropped": acc.dropped,
                  "dropped_before_routing": dropped_before,
                  "balanced": bool(acc.balanced and arrived_units == acc.ordered
                                   + dropped_before),
                  "unfilled_first": counts["unfilled_first"],
                  "backordered": counts["backordered"]},
        "declines": counts["declines"], "declined_units": counts["declined_units"],
        "cancels": counts["cancels"], "walkin_short": counts["walkin_short"],
        "recorded_declines_ignored": counts["recorded_declines_ignored"],
    }


# --------------------------------------------------------------------------------------------
# headroom and hindsight


def headroom(network: Network, day: Day, window: float, *, solver: str = "greedy",
             time_limit: float | None = None, seed: int = 0, reps: int = 5,
             max_orders: int = 500_000,
             solver_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The highest arrival rate one core sustains with batches every ``window`` seconds:
    the largest batch (the day's first orders, the opening spike's, against ``network``'s
    state) whose p99 route + commit CPU time over ``reps`` runs (3 above 50,000 orders) stays
    within the window,
    divided by the window. For window 0 (each order alone), the rate at which routing one
    order at a time keeps the core busy: 1 / mean latency of the first orders. Sizes double,
    then bisect; capped at ``max_orders`` (``capped`` then says the rate is at least that).
    ``solver_options``: the solver's parameters (its resources, e.g. the executor's workers,
    started once for all the probes)."""
    from router.solvers.registry import get

    options = dict(solver_options or {})
    with session(solver, get(solver).params.build(options, solver)):
        return _headroom(network, day, window, solver, time_limit, seed, reps, max_orders,
                         options)


def _headroom(network: Network, day: Day, window: float, solver: str,
              time_limit: float | None, seed: int, reps: int, max_orders: int,
              options: dict[str, Any]) -> dict[str, Any]:
    n_max = min(max_orders, day.n_orders)

    def run(n: int) -> np.ndarray:
        out = []
        orders = day.orders(range(n))
        for _ in range(reps if n <= 50_000 else max(3, reps // 2)):
            net = network.copy()
            c0 = time.process_time()
            net.commit(net.route(orders, solver=solver, time_limit=time_limit, seed=seed,
                                 solver_options=options))
            out.append(time.process_time() - c0)
        return np.array(out)

    if window == 0:
        net = network.copy()
        orders = day.orders(range(min(n_max, 2000)))
        one = []
        for o in orders:
            c0 = time.process_time()
            net.commit(net.route([o], solver=solver, time_limit=time_limit, seed=seed,
                                 solver_options=options))
            one.append(time.process_time() - c0)
        a = np.array(one)
        return {"window": 0.0, "rate": 1.0 / float(a.mean()), "latency_p99": _pct(a, 99),
                "batch": 1, "probes": [(1, float(a.mean()), _pct(a, 99))], "capped": False}
    probes: list[tuple[int, float, float]] = []
    lo, n = 0, 64
    hi: int | None = None
    while n <= n_max:
        lat = run(n)
        p99 = _pct(lat, 99)
        probes.append((n, float(lat.mean()), p99))
        if p99 > window:
            hi = n
            break
        lo = n
        if n == n_max:
            break
        n = min(2 * n, n_max)
    if hi is not None:
        while hi - lo > max(16, lo // 16):
            mid = (lo + hi) // 2
            lat = run(mid)
            p99 = _pct(lat, 99)
            probes.append((mid, float(lat.mean()), p99))
            lo, hi = (mid, hi) if p99 <= window else (lo, mid)
    return {"window": window, "rate": lo / window, "batch": lo, "capped": hi is None,
            "probes": probes,
            "latency_p99": next((p for m, _, p in reversed(probes) if m == lo), 0.0)}


def hindsight_bound(network: Network, day: Day, *, solver: str = "lagrangian",
                    time_limit: float | None = 60.0, seed: int = 0) -> dict[str, Any]:
    """A lower bound on the cost of the day under any routing policy: every order the
    customer did not cancel, in one batch, against all the stock the day ever brings (the
    opening stock plus every replenishment and counted level, less safety stock) and the
    capacity of every window of the day at once, without declines; bounded by ``solver``
    (``lagrangian`` or ``lp-bound``). Any policy's packages, merged per order and node, are
    a plan of that batch, so its optimum (and any proven bound on it) is below the day's
    cost (packages plus the penalty of every unit not shipped)."""
    from router.network.network import NO_INSTANCE
    from router.solve import solve

    led = network.ledger
    s = led.s
    cancelled = {ev.order for ev in day.events if ev.type == "cancel"}
    keep = [i for i, oid in enumerate(day.order_ids) if oid not in cancelled]
    inflow = np.zeros(s.n_pools, dtype=np.int64)
    for ev in day.events:
        if ev.type == "replenish":
            p = s.pools_of(np.full(len(ev.items), ev.node), np.array([k for k, _ in ev.items]))
            np.add.at(inflow, p, [q for _, q in ev.items])
        elif ev.type == "count":
            inflow[int(s.pools_of(np.array([ev.node]), np.array([ev.sku]))[0])] += ev.qty
    avail = np.maximum(0, led.on_hand + inflow - s.node_ss[s.pool_node])
    windows = max(1, math.ceil(max(day.duration, 1e-9) / led.capacity_window))
    t0 = time.perf_counter()
    orders = day.columns(np.array(keep, dtype=np.int64), network.compiled.sku_ids)
    problem = compile_batch(network.compiled, orders, name=f"{day.header.get('network')}-day",
                            pool_available=avail,
                            node_max_packages=led.packages_left() * windows,
                            node_capacity=led.units_left() * windows,
                            unfilled_penalty=network.instance.unfilled_penalty,
                            default_max_packages=network.instance.default_max_packages)
    compile_s = time.perf_counter() - t0
    plan = solve(NO_INSTANCE, solver, time_limit=time_limit, seed=seed, problem=problem,
                 verify=False)
    bound = plan.lower_bound
    return {"solver": solver, "bound": bound, "orders": len(keep),
            "relaxed_plan_cost": plan.objective, "line_arcs": problem.n_line_arcs,
            "compile_seconds": compile_s, "seconds": time.perf_counter() - t0,
            "windows": windows, "status": plan.status}
