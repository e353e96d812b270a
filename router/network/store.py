"""The ledger on disk: one SQLite file (standard library ``sqlite3``, write-ahead log).

Every :class:`~router.network.ledger.Change` is written in one transaction (``BEGIN
IMMEDIATE`` ... ``COMMIT``) before it is applied in memory, so a process killed at any
moment (``kill -9`` included) reopens with every committed change and none half-written.
With ``synchronous=NORMAL`` (the default here) a committed transaction survives the death of
the process; ``synchronous=FULL`` also survives the loss of power, at the cost of a disk
flush per commit.

Tables: ``meta`` (format, the network as an instance mapping, parameters, clock), ``pools``
(stock on hand), ``usage`` (capacity used in the current window), ``orders``, ``lines``,
``packages``, ``ship_lines``, ``banned``, ``plans`` (one row per committed plan; its id makes
commits idempotent) and ``adjustments`` (the stock changes made outside plans).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from router.errors import InputError
from router.instance import Instance
from router.network.ledger import Change, Column, Ledger

FORMAT = "router/ledger-v1"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pools (pool INTEGER PRIMARY KEY, on_hand INTEGER NOT NULL);
CREATE TABLE usage (node INTEGER PRIMARY KEY, packages INTEGER NOT NULL,
                    units INTEGER NOT NULL);
CREATE TABLE orders (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, lat REAL NOT NULL,
                     lon REAL NOT NULL, express INTEGER NOT NULL, max_packages INTEGER NOT NULL,
                     penalty REAL NOT NULL, time REAL NOT NULL, line_start INTEGER NOT NULL,
                     n_lines INTEGER NOT NULL, packages INTEGER NOT NULL);
CREATE TABLE lines (idx INTEGER PRIMARY KEY, order_idx INTEGER NOT NULL, sku INTEGER NOT NULL,
                    qty INTEGER NOT NULL, shipped INTEGER NOT NULL, waiting INTEGER NOT NULL,
                    cancelled INTEGER NOT NULL, dropped INTEGER NOT NULL, since REAL);
CREATE TABLE packages (idx INTEGER PRIMARY KEY, order_idx INTEGER NOT NULL,
                       node INTEGER NOT NULL, window INTEGER NOT NULL, plan INTEGER NOT NULL,
                       state INTEGER NOT NULL, cost_package REAL NOT NULL,
                       cost_unit REAL NOT NULL, line_start INTEGER NOT NULL,
                       n_lines INTEGER NOT NULL);
CREATE TABLE ship_lines (idx INTEGER PRIMARY KEY, line INTEGER NOT NULL, pool INTEGER NOT NULL,
                         qty INTEGER NOT NULL);
CREATE TABLE banned (order_idx INTEGER NOT NULL, node INTEGER NOT NULL,
                     PRIMARY KEY (order_idx, node));
CREATE TABLE plans (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, batch TEXT NOT NULL,
                    time REAL NOT NULL, orders INTEGER NOT NULL, packages INTEGER NOT NULL,
                    objective REAL NOT NULL);
CREATE TABLE adjustments (seq INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL,
                          pool INTEGER NOT NULL, qty INTEGER NOT NULL, delta INTEGER NOT NULL);
"""


def _nan_to_null(v: np.ndarray) -> list[float | None]:
    return [None if math.isnan(x) else x for x in v.tolist()]


def _cols(*arrays: Any) -> list[tuple[Any, ...]]:
    return list(zip(*[a.tolist() if isinstance(a, np.ndarray) else a for a in arrays],
                    strict=True))


class Store:
    """A ledger file. Open with :meth:`create` (a new file) or :meth:`open`."""

    def __init__(self, path: str | os.PathLike[str], conn: sqlite3.Connection) -> None:
        self.path = str(path)
        self.conn = conn
        self.counts = self._counts()

    # ---- opening ---------------------------------------------------------------------------
    @staticmethod
    def _connect(path: str, synchronous: str) -> sqlite3.Connection:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        return conn

    @classmethod
    def create(cls, path: str | os.PathLike[str], network: Instance, params: dict[str, float],
               initial: np.ndarray, n_nodes: int, *, synchronous: str = "NORMAL") -> Store:
        """A new ledger file for ``network`` (it must not exist yet). The file is built under
        a temporary name and renamed when complete, so it never exists half made."""
        p = Path(path)
        if p.exists():
            raise InputError([("", "the ledger file already exists")], str(path))
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        data = network.to_dict()
        data["orders"] = []
        try:
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("network", json.dumps(data, separators=(",", ":"))),
                ("params", json.dumps(params)), ("clock", "0.0"), ("window", "0")])
            conn.executemany("INSERT INTO pools VALUES (?, ?)",
                             _cols(np.arange(len(initial)), initial))
            conn.executemany("INSERT INTO usage VALUES (?, 0, 0)",
                             [(i,) for i in range(n_nodes)])
            conn.execute("COMMIT")
            conn.close()
            os.replace(tmp, p)
            return cls(p, cls._connect(str(p), synchronous))
        except (sqlite3.Error, OSError) as e:
            tmp.unlink(missing_ok=True)
            raise InputError([("", f"cannot create the ledger: {e}")], str(path)) from None

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> Store:
        p = Path(path)
        if not p.is_file():
            raise InputError([("", "no such ledger file")], str(path))
        try:
            conn = cls._connect(str(p), synchronous)
            row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as e:
            raise InputError([("", f"not a router ledger (SQLite: {e})")], str(path)) from None
        if row is None or row[0] != FORMAT:
            conn.close()
            raise InputError([("", f"not a {FORMAT} file")], str(path))
        return cls(p, conn)

    def close(self) -> None:
        self.conn.close()

    def _counts(self) -> dict[str, int]:
        c = self.conn
        return {t: int(c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("orders", "lines", "packages", "ship_lines", "plans", "adjustments")}

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def network(self) -> tuple[Instance, dict[str, float]]:
        m = self.meta()
        return (Instance.from_dict(json.loads(m["network"]), source=f"{self.path}: network"),
                json.loads(m["params"]))

    # ---- writing ---------------------------------------------------------------------------
    def write(self, ch: Change) -> None:
        """Write ``ch`` in one transaction (all of it or, on any error, none of it)."""
        c = self.conn
        n = self.counts
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("UPDATE meta SET value=? WHERE key=?",
                          [(repr(float(ch.clock)), "clock"), (str(int(ch.window)), "window")])
            if ch.reset_usage:
                c.execute("UPDATE usage SET packages=0, units=0")
            if ch.plan is not None:
                c.execute("INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (n["plans"], *ch.plan[:2], float(ch.clock), *ch.plan[2:]))
            if ch.orders_new is not None:
                o = ch.orders_new
                idx = n["orders"] + np.arange(len(o["ids"]))
                c.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?)", _cols(
                    idx, o["ids"], o["lat"], o["lon"], o["express"].astype(np.int64),
                    o["limit"], o["penalty"], o["time"], o["line_start"], o["n_lines"],
                    o["packages"]))
            if ch.lines_new is not None:
                ln = ch.lines_new
                idx = n["lines"] + np.arange(len(ln["qty"]))
                c.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?,?,?)", _cols(
                    idx, ln["order"], ln["sku"], ln["qty"], ln["shipped"], ln["waiting"],
                    ln["cancelled"], ln["dropped"], _nan_to_null(ln["since"])))
            if ch.lines_set is not None and "idx" in ch.lines_set:
                ls = ch.lines_set
                c.executemany("UPDATE lines SET shipped=?, waiting=?, cancelled=?, dropped=?, "
                              "since=? WHERE idx=?", _cols(
                                  ls["shipped"], ls["waiting"], ls["cancelled"], ls["dropped"],
                                  _nan_to_null(ls["since"]), ls["idx"]))
            if ch.orders_set is not None:
                c.executemany("UPDATE orders SET packages=? WHERE idx=?",
                              _cols(ch.orders_set[1], ch.orders_set[0]))
            if ch.packages_new is not None:
                pk = ch.packages_new
                idx = n["packages"] + np.arange(len(pk["order"]))
                c.executemany("INSERT INTO packages VALUES (?,?,?,?,?,0,?,?,?,?)", _cols(
                    idx, pk["order"], pk["node"], pk["window"], pk["plan"], pk["cost_package"],
                    pk["cost_unit"], pk["line_start"], pk["n_lines"]))
            if ch.ship_new is not None:
                sl = ch.ship_new
                idx = n["ship_lines"] + np.arange(len(sl["qty"]))
                c.executemany("INSERT INTO ship_lines VALUES (?,?,?,?)",
                              _cols(idx, sl["line"], sl["pool"], sl["qty"]))
            if ch.packages_state is not None:
                c.executemany("UPDATE packages SET state=? WHERE idx=?",
                              _cols(ch.packages_state[1].astype(np.int64),
                                    ch.packages_state[0]))
            if ch.pools_set is not None:
                c.executemany("UPDATE pools SET on_hand=? WHERE pool=?",
                              _cols(ch.pools_set[1], ch.pools_set[0]))
            if ch.usage_set is not None:
                u = ch.usage_set
                c.executemany("UPDATE usage SET packages=?, units=? WHERE node=?",
                              _cols(u[1], u[2], u[0]))
            if ch.banned_new is not None:
                c.executemany("INSERT OR IGNORE INTO banned VALUES (?, ?)",
                              _cols(ch.banned_new[0], ch.banned_new[1]))
            if ch.adjustments is not None:
                c.executemany("INSERT INTO adjustments VALUES (?, ?, ?, ?, ?, ?)",
                              [(n["adjustments"] + i, *a) for i, a in enumerate(ch.adjustments)])
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        n["plans"] += ch.plan is not None
        n["adjustments"] += len(ch.adjustments or ())
        if ch.orders_new is not None:
            n["orders"] += len(ch.orders_new["ids"])
        if ch.lines_new is not None:
            n["lines"] += len(ch.lines_new["qty"])
        if ch.packages_new is not None:
            n["packages"] += len(ch.packages_new["order"])
        if ch.ship_new is not None:
            n["ship_lines"] += len(ch.ship_new["qty"])

    # ---- reading ---------------------------------------------------------------------------
    def restore(self, led: Ledger) -> None:
        """Fill a fresh ledger of the same network with the state on disk."""
        c = self.conn
        m = self.meta()
        led.clock, led.window = float(m["clock"]), int(m["window"])

        def table(sql: str, ncols: int, dtype: Any = np.float64) -> np.ndarray:
            rows = c.execute(sql).fetchall()
            return np.array(rows, dtype=dtype).reshape(len(rows), ncols)

        pools = table("SELECT on_hand FROM pools ORDER BY pool", 1, np.int64)
        if len(pools) != led.s.n_pools:
            raise InputError([("pools", "the ledger does not match its network")], self.path)
        led.set_on_hand(pools[:, 0])
        usage = table("SELECT packages, units FROM usage ORDER BY node", 2, np.int64)
        led.used_packages, led.used_units = usage[:, 0].copy(), usage[:, 1].copy()
        adj = table("SELECT pool, delta FROM adjustments", 2, np.int64)
        led.adjusted = np.bincount(adj[:, 0], weights=adj[:, 1],
                                   minlength=led.s.n_pools).astype(np.int64)
        led.adjustment_count = len(adj)
        rows = c.execute("SELECT id, lat, lon, express, max_packages, penalty, time, line_start,"
                         " n_lines, packages FROM orders ORDER BY idx").fetchall()
        led.order_ids = [r[0] for r in rows]
        led.order_index = {oid: i for i, oid in enumerate(led.order_ids)}
        o = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 9)
        for k, col, dt in (("lat", 0, np.float64), ("lon", 1, np.float64),
                           ("express", 2, np.bool_), ("limit", 3, np.int64),
                           ("penalty", 4, np.float64), ("time", 5, np.float64),
                           ("line_start", 6, np.int64), ("n_lines", 7, np.int64),
                           ("packages", 8, np.int64)):
            setattr(led, "o_" + k, Column(dt, o[:, col]))
        rows = c.execute("SELECT order_idx, sku, qty, shipped, waiting, cancelled, dropped, "
                         "since FROM lines ORDER BY idx").fetchall()
        ln = np.array([r[:7] for r in rows], dtype=np.int64).reshape(len(rows), 7)
        for k, col in (("order", 0), ("sku", 1), ("qty", 2), ("shipped", 3), ("waiting", 4),
                       ("cancelled", 5), ("dropped", 6)):
            setattr(led, "l_" + k, Column(np.int64, ln[:, col]))
        led.l_since = Column(np.float64, np.array([np.nan if r[7] is None else r[7]
                                                   for r in rows], dtype=np.float64))
        led.l_tried = Column(np.int64, np.full(len(rows), -1, dtype=np.int64))
        pk = table("SELECT order_idx, node, window, plan, state, cost_package, cost_unit, "
                   "line_start, n_lines FROM packages ORDER BY idx", 9)
        cols: tuple[tuple[str, int, Any], ...] = (
            ("order", 0, np.int64), ("node", 1, np.int64), ("window", 2, np.int64),
            ("plan", 3, np.int64), ("state", 4, np.int8), ("cost_package", 5, np.float64),
            ("cost_unit", 6, np.float64), ("line_start", 7, np.int64), ("n_lines", 8, np.int64))
        for k, col, dt in cols:
            setattr(led, "k_" + k, Column(dt, pk[:, col]))
        sl = table("SELECT line, pool, qty FROM ship_lines ORDER BY idx", 3, np.int64)
        for k, col in (("line", 0), ("pool", 1), ("qty", 2)):
            setattr(led, "s_" + k, Column(np.int64, sl[:, col]))
        led.o_pkg_start = Column(np.int64, np.zeros(led.n_orders, dtype=np.int64))
        led.o_pkg_count = Column(np.int64, np.zeros(led.n_orders, dtype=np.int64))
        led.extra_pkg_ranges = {}
        # packages are appended plan by plan, grouped by order within a plan
        plan_of = led.k_plan.a
        cuts = np.r_[0, np.flatnonzero(np.diff(plan_of)) + 1, len(plan_of)].tolist()
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if b > a:
                led._index_packages(led.k_order.a[a:b], a)
        led.banned = {}
        for o_, n_ in c.execute("SELECT order_idx, node FROM banned").fetchall():
            led.banned.setdefault(int(o_), set()).add(int(n_))
        led.plans = [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in c.execute(
            "SELECT id, batch, time, orders, packages, objective FROM plans ORDER BY seq")]
        led.plan_ids = {p[0]: i for i, p in enumerate(led.plans)}
        led.waiting_lines = np.flatnonzero(led.l_waiting.a > 0)
        led.sku_epoch[:] = 0
        led.epoch = 1
