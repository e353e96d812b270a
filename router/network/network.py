"""``router.Network``: a network compiled once, and batch after batch routed against what the
earlier batches and the nodes' own sales left.

    net = router.Network(router.load("network.json"))           # in memory
    net = router.Network.create(instance, "day.db")             # or a ledger file (SQLite)
    net = router.Network.open("day.db")                         # ... reopened after a restart
    net.advance(t)                                              # the simulated (or real) clock
    plan = net.route(orders, time_limit=0.5, solver="greedy")   # a verified Plan
    net.commit(plan)                                            # stock and capacity taken
    net.release("O-17")                                         # the customer cancelled
    net.decline("O-18", "ST-0042")                              # the store cannot ship it
    net.adjust("ST-0042", "SKU-1", 3, kind="sale")              # walk-in shoppers
    net.snapshot()                                              # the state as an Instance

The batch a call to :meth:`Network.route` routes is the new orders plus the backorder queue's
orders worth offering again (their SKU was restocked or released, the capacity window is new,
or a store declined them). Units a plan leaves unfilled wait in the queue, up to the wait
limit; then they are cancelled at their penalty.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from router.compile import compile_batch, compile_network
from router.contract import Params, Status
from router.errors import InputError, VerificationError
from router.instance import Instance, Line, Order, OrderColumns
from router.network.ledger import (
    ACTIVE,
    ADJUST_KINDS,
    UNLIMITED,
    Accounting,
    BatchOrders,
    Change,
    Ledger,
    LedgerError,
    static_of,
)
from router.network.store import Store
from router.network.view import banned_shipments, batch_instance
from router.plan import CostBreakdown, Plan, Unfilled
from router.solve import solve
from router.solvers.registry import get as get_solver
from router.verify import verify

log = logging.getLogger(__name__)

NO_INSTANCE: Any = None  # batches reach the solver compiled (problem=); route() verifies
MAX_PENDING = 64  # routed batches kept for commit


@dataclass(frozen=True)
class CommitResult:
    plan_id: str
    committed: bool  # False: this plan was committed before (nothing changed)
    orders: int = 0
    packages: int = 0
    units: int = 0
    waiting: int = 0  # units of the batch left waiting in the backorder queue
    cancelled: int = 0  # units of the batch cancelled at once (no package allowed any more)


@dataclass(frozen=True)
class _Routed:
    batch: BatchOrders
    columns: OrderColumns  # the batch's orders as compile_batch reads them
    line_keys: np.ndarray  # sorted (batch order * S + SKU) of every batch line
    line_perm: np.ndarray  # batch line of each sorted key
    banned: dict[str, set[str]]


def plan_digest(plan: Plan) -> str:
    """A plan's id: a digest of its batch name, shipments and unfilled lines."""
    body = [plan.instance, [[s.order, s.node, [[ln.sku, ln.qty] for ln in s.lines]]
                            for s in plan.shipments],
            [[u.order, u.sku, u.qty] for u in plan.unfilled]]
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()[:32]


class Network:
    """Nodes, tariff, stock and capacity, compiled once; a ledger of the day's batches."""

    def __init__(self, instance: Instance, *, capacity_window: float = 3600.0,
                 wait_limit: float = 7200.0) -> None:
        """Compile the nodes, SKUs and tariff of ``instance`` (its orders are not routed:
        see :meth:`from_instance`), in memory. Capacities (``max_packages``, ``max_units``)
        are per capacity window of ``capacity_window`` seconds; waiting units are cancelled
        after ``wait_limit`` seconds (0: at once, no backorders)."""
        self._setup(instance, capacity_window, wait_limit)

    def _setup(self, instance: Instance, capacity_window: float, wait_limit: float) -> None:
        self.instance = Instance(name=instance.name, shipping=instance.shipping,
                                 unfilled_penalty=instance.unfilled_penalty,
                                 skus=instance.skus, nodes=instance.nodes, orders=(),
                                 default_max_packages=instance.default_max_packages)
        self.compiled = compile_network(self.instance)
        static = static_of(self.instance, self.compiled.pool_node, self.compiled.pool_sku)
        self.ledger = Ledger(static, capacity_window=capacity_window, wait_limit=wait_limit)
        self.node_index = {nid: i for i, nid in enumerate(static.node_ids)}
        self.sku_index = {sid: i for i, sid in enumerate(static.sku_ids)}
        self.store: Store | None = None
        self._pending: OrderedDict[str, _Routed] = OrderedDict()
        self._batches = 0

    # ---- files -----------------------------------------------------------------------------
    @classmethod
    def create(cls, instance: Instance, path: str | os.PathLike[str], *,
               capacity_window: float = 3600.0, wait_limit: float = 7200.0,
               synchronous: str = "NORMAL") -> Network:
        """A network whose ledger persists in a new SQLite file at ``path``."""
        net = cls(instance, capacity_window=capacity_window, wait_limit=wait_limit)
        net.store = Store.create(path, net.instance, net.params(), net.ledger.s.initial,
                                 net.ledger.s.n_nodes, synchronous=synchronous)
        return net

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> Network:
        """The network of a ledger file, with every committed change."""
        store = Store.open(path, synchronous=synchronous)
        try:
            instance, params = store.network()
            net = cls.__new__(cls)
            net._setup(instance, params["capacity_window"], params["wait_limit"])
            store.restore(net.ledger)
        except BaseException:
            store.close()
            raise
        net.store = store
        net._batches = len(net.ledger.plans)
        return net

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def params(self) -> dict[str, float]:
        return {"capacity_window": self.ledger.capacity_window,
                "wait_limit": self.ledger.wait_limit}

    def copy(self) -> Network:
        """An in-memory copy of the current state (not attached to any file)."""
        net = copy.copy(self)
        net.ledger = copy.deepcopy(self.ledger)
        net.store = None
        net._pending = OrderedDict()
        return net

    # ---- snapshots -------------------------------------------------------------------------
    def snapshot(self, name: str | None = None) -> Instance:
        """The state as an instance: every node with its stock on hand and the capacity it
        has left in this window, and the backorder queue's orders (their waiting units,
        package allowance and penalty). ``router solve`` on it routes the backlog now."""
        led, s = self.ledger, self.ledger.s
        inv: list[dict[str, int]] = [{} for _ in s.node_ids]
        for n, k, q in zip(s.pool_node.tolist(), s.pool_sku.tolist(), led.on_hand.tolist(),
                           strict=True):
            inv[n][s.sku_ids[k]] = q
        pk, un = led.packages_left(), led.units_left()
        nodes = tuple(
            _replace_node(n, inv[i], pk[i], un[i]) for i, n in enumerate(self.instance.nodes))
        orders = tuple(self._residual_orders(np.unique(led.l_order.a[led.waiting_lines]))[0])
        return Instance(name=name or f"{self.instance.name}-at-{led.clock:g}s",
                        shipping=self.instance.shipping,
                        unfilled_penalty=self.instance.unfilled_penalty,
                        skus=self.instance.skus, nodes=nodes, orders=orders,
                        default_max_packages=self.instance.default_max_packages)

    def save(self, path: str | os.PathLike[str]) -> int:
        """Write :meth:`snapshot` as an instance file (JSON or YAML by extension)."""
        from router.io.write import write

        return write(self.snapshot(), str(path))

    @classmethod
    def from_instance(cls, instance: Instance, **params: Any) -> Network:
        """A network in the state of ``instance`` (a snapshot): its nodes as they are, its
        orders waiting in the backorder queue."""
        net = cls(instance, **params)
        if instance.orders:
            net.enqueue(instance.orders)
        return net

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> Network:
        """:meth:`from_instance` of an instance file."""
        from router.io.read import load

        inst = load(str(path))
        if not isinstance(inst, Instance):
            raise InputError([("", "a network must be a router/instance-v1 file")], str(path))
        return cls.from_instance(inst, **params)

    # ---- the clock and the state ---------------------------------------------------------
    @property
    def clock(self) -> float:
        return self.ledger.clock

    def advance(self, t: float) -> dict[str, Any]:
        """Move the clock to ``t`` seconds: entering a new capacity window resets the
        capacity used; waiting units past the wait limit are cancelled at their penalty."""
        ch = self.ledger.advance_change(float(t))
        if ch.clock == self.ledger.clock and not ch.reset_usage and ch.lines_set is None:
            return {"window": ch.window, "reset": False, "cancelled": 0}  # nothing changes
        self._write(ch)
        return {"window": ch.window, "reset": ch.reset_usage,
                "cancelled": ch.summary.get("cancelled", 0)}

    def accounting(self) -> Accounting:
        return self.ledger.accounting()

    def costs(self) -> dict[str, float]:
        return self.ledger.costs()

    def audit(self) -> list[str]:
        return self.ledger.audit()

    # ---- routing ---------------------------------------------------------------------------
    def route(self, orders: Sequence[Order], *, time_limit: float | None = None,
              work_limit: int | None = None, solver: str = "auto", seed: int = 0,
              backorders: bool = True,
              solver_options: Mapping[str, Any] | None = None) -> Plan:
        """Route ``orders`` (and, with ``backorders``, the queue's orders worth offering
        again) against the current state; returns a verified plan to :meth:`commit`.
        ``time_limit`` covers the whole call, compilation and verification included;
        ``work_limit`` (the solver's work units) makes a run repeat exactly for a seed.
        ``solver_options``: the solver's parameters by name (as ``router.solve`` takes them
        by keyword, e.g. ``{"workers": 2, "executor": "ray"}``); an unknown name is an
        :class:`~router.errors.OptionError` naming the valid ones.
        ``plan.stats.seconds`` is the whole call; ``plan.stats.extra`` says how many orders
        the batch held (``batch_orders``) and how many were backorders offered again
        (``backorders_offered``)."""
        t0 = time.perf_counter()
        params = get_solver(solver).params.build(solver_options or {}, solver)
        name, orders_, routed = self._prepare(orders, backorders)
        if orders_:
            plan = self._solve(name, orders_, routed, time_limit, work_limit, solver, seed, t0,
                               params)
        else:
            plan = _unrouted_plan(name, orders_, self.instance)
        st = plan.stats
        return plan.with_stats(st.but(seconds=time.perf_counter() - t0, extra={
            **st.extra, "batch_orders": len(orders_),
            "backorders_offered": len(orders_) - routed.batch.new_count}))

    def _prepare(self, orders: Sequence[Order], backorders: bool
                 ) -> tuple[str, list[Order], _Routed]:
        """The batch: new orders checked, then the backorders worth offering again; kept
        under its name until committed."""
        led = self.ledger
        new = self._admit(orders)
        res_orders = (np.unique(led.l_order.a[led.reoffer_lines()]) if backorders
                      else np.zeros(0, dtype=np.int64))
        residual, res_lines, res_ptr = self._residual_orders(res_orders)
        batch_orders = [*new, *residual]
        self._batches += 1
        name = f"{self.instance.name}/{self._batches}"
        batch = self._batch_orders(new, batch_orders, res_orders, res_lines, res_ptr)
        banned = {led.order_ids[o]: {led.s.node_ids[n] for n in ns}
                  for o in res_orders.tolist() if (ns := led.banned.get(o))}
        res = batch.residual
        line_sku = np.concatenate([batch.line_sku, led.l_sku.a[res_lines]])
        n_lines = np.concatenate([np.diff(batch.line_ptr), np.diff(batch.residual_line_ptr)])
        line_ptr = np.zeros(len(batch_orders) + 1, dtype=np.int64)
        np.cumsum(n_lines, out=line_ptr[1:])
        columns = OrderColumns(  # limits and penalties as the ledger holds them
            ids=batch.ids, sku_ids=self.compiled.sku_ids,
            lat=np.concatenate([batch.lat, led.o_lat.a[res]]),
            lon=np.concatenate([batch.lon, led.o_lon.a[res]]),
            express=np.concatenate([batch.express, led.o_express.a[res]]),
            max_packages=np.concatenate([batch.limit, np.where(
                led.o_limit.a[res] == UNLIMITED, UNLIMITED, led.allowance(res))]),
            unfilled_penalty=np.concatenate([batch.penalty, led.o_penalty.a[res]]),
            line_ptr=line_ptr, line_sku=line_sku,
            line_qty=np.concatenate([batch.line_qty, led.l_waiting.a[res_lines]]))
        keys = np.repeat(np.arange(len(batch_orders)), n_lines) * len(self.sku_index) + line_sku
        perm = np.argsort(keys, kind="stable")
        routed = _Routed(batch, columns, keys[perm], perm, banned)
        self._pending[name] = routed
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return name, batch_orders, routed

    def _solve(self, name: str, orders: list[Order], routed: _Routed,
               time_limit: float | None, work_limit: int | None, solver: str, seed: int,
               t0: float, params: Params | None = None) -> Plan:
        led = self.ledger
        banned = routed.banned
        pos = {o.id: i for i, o in enumerate(orders)}
        ban = np.array([(pos[o], self.node_index[n]) for o, ns in banned.items() for n in ns],
                       dtype=np.int64).reshape(-1, 2)
        pools, available = led.available_for(routed.columns.line_sku)
        problem = compile_batch(self.compiled, routed.columns, name=name,
                                pools=pools, pool_available=available,
                                node_max_packages=led.packages_left(),
                                node_capacity=led.units_left(),
                                unfilled_penalty=self.instance.unfilled_penalty,
                                default_max_packages=self.instance.default_max_packages,
                                banned_arcs=ban)
        left = None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))
        plan = solve(NO_INSTANCE, solver, time_limit=left, work_limit=work_limit, seed=seed,
                     problem=problem, verify=False, params=params)
        tv = time.perf_counter()
        problems = self._check(plan, orders, banned)
        if problems and solver != "greedy":
            log.error("plan of %s for %s failed verification; routing it by greedy:\n%s",
                      solver, name, "\n".join(problems))
            plan = solve(NO_INSTANCE, "greedy", seed=seed, problem=problem, verify=False)
            note = f"the plan of {solver} failed verification; the greedy plan replaced it"
            plan = plan.with_stats(plan.stats.but(notes=(*plan.stats.notes, note)))
            problems = self._check(plan, orders, banned)
        if problems:
            raise VerificationError("\n".join(problems))
        return plan.with_stats(plan.stats.but(verify_seconds=time.perf_counter() - tv))

    def _check(self, plan: Plan, orders: list[Order], banned: dict[str, set[str]]
               ) -> list[str]:
        if not plan.has_plan:
            return [f"no plan ({plan.status})"]
        view = batch_instance(self.instance, self.ledger, orders, plan, self.node_index,
                              self.sku_index)
        report = verify(view, plan, raise_on_error=False)
        return [str(v) for v in report.violations] + banned_shipments(plan, banned)

    def _admit(self, orders: Sequence[Order]) -> list[Order]:
        """New orders, checked: ids not known yet, SKUs of the network, quantities positive
        (lines of one SKU merged)."""
        known, skus = self.ledger.order_index, self.sku_index
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        out: list[Order] = []
        for i, o in enumerate(orders):
            if not isinstance(o, Order):
                problems.append((f"orders[{i}]", "must be an Order"))
                continue
            if o.id in known or o.id in seen:
                problems.append((f"orders[{i}].id", f"order {o.id!r} is already known"))
            seen.add(o.id)
            if not o.lines:
                problems.append((f"orders[{i}].lines", "an order must have at least one line"))
            merged: dict[str, int] = {}
            for k, ln in enumerate(o.lines):
                if ln.sku not in skus:
                    problems.append((f"orders[{i}].lines[{k}].sku", f"unknown SKU {ln.sku!r}"))
                if isinstance(ln.qty, bool) or not isinstance(ln.qty, int) or ln.qty < 1:
                    problems.append((f"orders[{i}].lines[{k}].qty",
                                     "must be a positive integer"))
                    continue
                merged[ln.sku] = merged.get(ln.sku, 0) + ln.qty
            if len(merged) != len(o.lines) and not problems:
                o = Order(o.id, o.lat, o.lon, tuple(Line(k, q) for k, q in merged.items()),
                          o.service, o.max_packages, o.unfilled_penalty)
            out.append(o)
        if problems:
            raise InputError(problems, "route")
        return out

    def _residual_orders(self, res_orders: np.ndarray
                         ) -> tuple[list[Order], np.ndarray, np.ndarray]:
        """The waiting part of ledger orders ``res_orders`` as orders (their waiting lines,
        the packages they may still get, their penalty), with the ledger lines offered."""
        led = self.ledger
        w = led.waiting_lines
        lines = w[np.isin(led.l_order.a[w], res_orders)] if len(res_orders) else w[:0]
        lo = led.l_order.a[lines]
        ptr = np.searchsorted(lo, np.append(res_orders, led.n_orders)) if len(lines) else \
            np.zeros(len(res_orders) + 1, dtype=np.int64)
        allow = led.allowance(res_orders).tolist()
        sku_ids = led.s.sku_ids
        skus, qty = led.l_sku.a[lines].tolist(), led.l_waiting.a[lines].tolist()
        out = []
        for k, o in enumerate(res_orders.tolist()):
            a, b = int(ptr[k]), int(ptr[k + 1])
            out.append(Order(
                led.order_ids[o], float(led.o_lat.a[o]), float(led.o_lon.a[o]),
                tuple(Line(sku_ids[skus[j]], qty[j]) for j in range(a, b)),
                "express" if led.o_express.a[o] else "standard",
                None if led.o_limit.a[o] == UNLIMITED else int(allow[k]),
                float(led.o_penalty.a[o])))
        return out, lines, ptr.astype(np.int64)

    def _batch_orders(self, new: list[Order], orders: list[Order], res_orders: np.ndarray,
                      res_lines: np.ndarray, res_ptr: np.ndarray) -> BatchOrders:
        dmp = self.instance.default_max_packages
        pen = self.instance.unfilled_penalty
        n_lines = [len(o.lines) for o in new]
        ptr = np.zeros(len(new) + 1, dtype=np.int64)
        np.cumsum(n_lines, out=ptr[1:])
        return BatchOrders(
            ids=tuple(o.id for o in orders), new_count=len(new), residual=res_orders,
            lat=np.array([o.lat for o in new], dtype=np.float64),
            lon=np.array([o.lon for o in new], dtype=np.float64),
            express=np.array([o.service == "express" for o in new], dtype=bool),
            limit=np.array([o.max_packages if o.max_packages is not None else
                            (dmp if dmp is not None else UNLIMITED) for o in new],
                           dtype=np.int64),
            penalty=np.array([o.unfilled_penalty if o.unfilled_penalty is not None else pen
                              for o in new], dtype=np.float64),
            line_ptr=ptr,
            line_sku=np.array([self.sku_index[ln.sku] for o in new for ln in o.lines],
                              dtype=np.int64),
            line_qty=np.array([ln.qty for o in new for ln in o.lines], dtype=np.int64),
            residual_lines=res_lines, residual_line_ptr=res_ptr)

    # ---- committing ------------------------------------------------------------------------
    def commit(self, plan: Plan, *, plan_id: str | None = None) -> CommitResult:
        """Apply a plan from :meth:`route`: its packages take stock and window capacity, its
        unfilled units wait (or are cancelled). Idempotent: a plan committed before (same id)
        changes nothing. Raises :class:`LedgerError` (and changes nothing) when the plan no
        longer fits the ledger, e.g. after a stock adjustment since it was routed."""
        pid = plan_id or plan_digest(plan)
        if pid in self.ledger.plan_ids:
            return CommitResult(pid, False)
        routed = self._pending.get(plan.instance)
        if routed is None:
            raise LedgerError(f"plan for batch {plan.instance!r}, which this network has not "
                              f"routed (or has committed or dropped)")
        if not plan.has_plan:
            raise LedgerError(f"a plan with status {plan.status!r} cannot be committed")
        b = routed.batch
        pos = {oid: i for i, oid in enumerate(b.ids)}
        pk_order, pk_node, sl_pkg, sl_key, sl_qty = [], [], [], [], []
        n_skus = len(self.sku_index)
        try:
            for k, sh in enumerate(plan.shipments):
                op = pos[sh.order]
                pk_order.append(op)
                pk_node.append(self.node_index[sh.node])
                for ln in sh.lines:
                    sl_pkg.append(k)
                    sl_key.append(op * n_skus + self.sku_index[ln.sku])
                    sl_qty.append(ln.qty)
        except KeyError as e:
            raise LedgerError(f"plan names {e.args[0]!r}, not in the batch or the network"
                              ) from None
        keys = np.array(sl_key, dtype=np.int64)
        at = np.minimum(np.searchsorted(routed.line_keys, keys), len(routed.line_keys) - 1)
        if len(keys) and (routed.line_keys[at] != keys).any():
            raise LedgerError("a package carries a SKU its order does not ask for")
        ch = self.ledger.commit_change(
            b, pid, plan.instance, plan.objective or 0.0, np.array(pk_order, dtype=np.int64),
            np.array(pk_node, dtype=np.int64), np.array(sl_pkg, dtype=np.int64),
            routed.line_perm[at] if len(keys) else np.zeros(0, dtype=np.int64),
            np.array(sl_qty, dtype=np.int64))
        self._write(ch)
        del self._pending[plan.instance]
        sm = ch.summary
        return CommitResult(pid, True, sm["orders"], sm["packages"], sm["units"],
                            sm["waiting"], sm["cancelled"])

    def enqueue(self, orders: Sequence[Order]) -> CommitResult:
        """Put new orders straight into the backorder queue, unrouted (a snapshot's
        backlog): they are offered to the next batch."""
        name, batch_orders, _ = self._prepare(orders, backorders=False)
        return self.commit(_unrouted_plan(name, batch_orders, self.instance))

    def discard(self, plan: Plan) -> None:
        """Forget a routed batch that will not be committed."""
        self._pending.pop(plan.instance, None)

    # ---- changes outside plans ---------------------------------------------------------------
    def release(self, order: str) -> int:
        """The customer cancelled ``order``: its packages are released (stock and window
        capacity come back) and its waiting units dropped. Returns the units it had shipped
        or waiting (0: nothing left to release)."""
        o = self._order(order)
        ch = self.ledger.release_change(o)
        if ch.summary["units"] == 0:
            return 0
        self._write(ch)
        return int(ch.summary["units"])

    def decline(self, order: str, node: str) -> int:
        """Store ``node`` declines its package for ``order``: the units come back to its
        stock and wait again; the next batch re-routes them without that store. Returns the
        units declined."""
        o, n = self._order(order), self._node(node)
        ch = self.ledger.decline_change(o, n)
        self._write(ch)
        return int(ch.summary["units"])

    def adjust(self, node: str, sku: str | dict[str, int], qty: int = 0,
               kind: str = "replenish") -> int:
        """A stock change outside the plans at ``node``: ``sale`` (walk-in shoppers bought
        ``qty``; stock never goes below 0), ``replenish`` (``qty`` arrived) or ``count``
        (the node counted ``qty`` on hand). ``sku`` may be a mapping SKU -> quantity to
        change several SKUs of the node at once. Returns the change of stock on hand."""
        if kind not in ADJUST_KINDS:
            raise InputError([("kind", f"must be one of {', '.join(ADJUST_KINDS)}")], "adjust")
        n = self._node(node)
        items = sku if isinstance(sku, dict) else {sku: qty}
        problems = []
        for k, q in items.items():
            if k not in self.sku_index:
                problems.append((f"sku {k}", "unknown SKU"))
            if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 0:
                problems.append((f"sku {k}", "the quantity must be a non-negative integer"))
        if problems:
            raise InputError(problems, "adjust")
        skus = np.array([self.sku_index[k] for k in items], dtype=np.int64)
        pools = self.ledger.s.pools_of(np.full(len(skus), n, dtype=np.int64), skus)
        missing = [k for k, p in zip(items, pools.tolist(), strict=True) if p < 0]
        if missing:
            raise InputError([(f"sku {k}", f"node {node!r} does not stock it") for k in missing],
                             "adjust")
        ch = self.ledger.adjust_change(pools, kind, np.array(list(items.values()),
                                                             dtype=np.int64))
        self._write(ch)
        return int(ch.summary["delta"])

    def _order(self, order: str) -> int:
        o = self.ledger.order_index.get(order)
        if o is None:
            raise InputError([("order", f"unknown order {order!r}")], "network")
        return o

    def _node(self, node: str) -> int:
        n = self.node_index.get(node)
        if n is None:
            raise InputError([("node", f"unknown node {node!r}")], "network")
        return n

    def _write(self, ch: Change) -> None:
        if self.store is not None:
            self.store.write(ch)
        self.ledger.apply(ch)

    # ---- queries ---------------------------------------------------------------------------
    def is_store(self, node: str) -> bool:
        return bool(self.ledger.s.node_store[self.node_index[node]])

    def summary(self) -> dict[str, Any]:
        led = self.ledger
        acc = led.accounting()
        c = led.costs()
        active = led.k_state.a == ACTIVE
        return {
            "network": self.instance.name, "file": None if self.store is None
            else self.store.path, "clock": led.clock, "window": led.window,
            "capacity_window": led.capacity_window, "wait_limit": led.wait_limit,
            "nodes": led.s.n_nodes, "stores": int(led.s.node_store.sum()),
            "skus": len(led.s.sku_ids), "pools": led.s.n_pools,
            "stock_on_hand": int(led.on_hand.sum()), "stock_available": int(led.available().sum()),
            "plans": len(led.plans), "orders": led.n_orders, "packages": int(active.sum()),
            "adjustments": led.adjustment_count,
            "orders_waiting": int(len(np.unique(led.l_order.a[led.waiting_lines]))),
            "units": {"ordered": acc.ordered, "shipped": acc.shipped, "waiting": acc.waiting,
                      "cancelled": acc.cancelled, "dropped": acc.dropped,
                      "balanced": acc.balanced},
            "cost": {**c, "total": c["package"] + c["unit"] + c["cancelled"]},
        }


def _replace_node(n: Any, inv: dict[str, int], pk: float, un: float) -> Any:
    return replace(n, inventory=MappingProxyType(inv),
                   max_packages=None if pk == np.inf else int(pk),
                   max_units=None if un == np.inf else int(un))


def _unrouted_plan(name: str, orders: Sequence[Order], network: Instance) -> Plan:
    """The plan that ships nothing (every unit unfilled): for empty batches and snapshots."""
    unfilled = tuple(Unfilled(o.id, ln.sku, ln.qty) for o in orders for ln in o.lines)
    pen = sum(ln.qty * (o.unfilled_penalty if o.unfilled_penalty is not None
                        else network.unfilled_penalty) for o in orders for ln in o.lines)
    return Plan(instance=name, solver="none", status=Status.FEASIBLE, objective=float(pen),
                lower_bound=None, cost=CostBreakdown(0.0, 0.0, float(pen), float(pen)),
                shipments=(), unfilled=unfilled)


__all__ = ["CommitResult", "LedgerError", "Network", "plan_digest"]
