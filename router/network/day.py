"""A sale day of events for a network, deterministic for a seed (``router generate --day``).

Arrivals follow an 11/11 curve: the midnight opening spike (the rate jumps to about 20 times
the day's mean within the first seconds and decays over the first hour), a quiet night, the
day, and the evening peak around 21:00 (:func:`arrival_rate`). In 2020 the peak was 583,000
orders/s against a mean of roughly 27,000/s over the day (2.3 billion orders), a ratio the
curve keeps; ``orders`` scales the whole curve. Arrival times are the order statistics of
``orders`` draws from the curve (a Poisson process given its count).

The orders are drawn like :mod:`router.generate`'s: customers in the cities the network
reaches, in proportion to population; baskets of 1-5 lines, quantities mostly 1; SKU
popularity in proportion to the network's stock of it; express where a warehouse within the
express radius stocks every line; ship-complete orders; a higher penalty for orders holding a
bulky SKU. Around them the stores and warehouses live their day:

- walk-in sales: a ``walkin_rate`` share of each store's shelf stock sells to shoppers between
  10:00 and 22:00, one unit at a time;
- replenishment: inbound waves at ``replenish_hours`` bring each warehouse about
  ``replenish_cover`` of the demand expected for its SKUs until the next wave (split in
  proportion to its stock, with forecast noise); stores are restocked at 09:00;
- count corrections: a ``count_share`` of store pools report a counted stock during the day;
- cancellations: a ``cancel_share`` of orders are cancelled by the customer, about 20 minutes
  after they arrive;
- declines: every store gets an acceptance probability (events at ``t`` = 0): the replay
  draws whether the store accepts each shipment it is sent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from router.errors import InputError
from router.generate import (
    QTY_P,
    SHIP_COMPLETE_SHARE,
    _scatter,
    _spread_km,
    cities,
    draw_baskets,
)
from router.geo import haversine_km
from router.instance import Instance
from router.network.events import dumps, write_day

DAY_SECONDS = 86_400.0
STORE_OPEN, STORE_CLOSE = 10.0, 22.0  # hours of walk-in trade
STORE_RESTOCK_HOUR = 9.0
CANCEL_DELAY_S = 1200.0  # mean delay of a customer's cancellation
PEAK_2020 = 583_000  # orders/s at the 11/11 peak of 2020


@dataclass(frozen=True)
class DayParams:
    """The knobs of a generated day (validated by :func:`day_params`)."""

    orders: int = 100_000
    duration: float = DAY_SECONDS  # seconds from midnight
    spike: float = 14.0  # height of the opening spike over the afternoon rate
    evening: float = 1.0  # height of the evening peak over the afternoon rate
    express_share: float = 0.15
    ship_complete_share: float = SHIP_COMPLETE_SHARE
    walkin_rate: float = 0.3
    replenish_hours: tuple[float, ...] = (6.0, 14.0, 22.0)
    replenish_cover: float = 1.0
    count_share: float = 0.02
    cancel_share: float = 0.01
    decline: float = 0.04  # mean probability that a store declines a shipment


def day_params(**knobs: Any) -> DayParams:
    """:class:`DayParams` with ``knobs`` (``None`` ignored), checked; raises
    :class:`InputError` naming each bad knob."""
    fields = DayParams.__dataclass_fields__
    unknown = [k for k in knobs if k not in fields]
    if unknown:
        raise InputError([(k, "unknown knob") for k in unknown], "generate --day")
    p = DayParams(**{k: v for k, v in knobs.items() if v is not None})
    problems: list[tuple[str, str]] = []
    if isinstance(p.orders, bool) or not isinstance(p.orders, int) or not 1 <= p.orders <= 50_000_000:
        problems.append(("orders", "must be an integer in [1, 50,000,000]"))
    for k, lo, hi in (("duration", 1.0, DAY_SECONDS), ("spike", 0.0, 1000.0),
                      ("evening", 0.0, 100.0), ("express_share", 0.0, 1.0),
                      ("ship_complete_share", 0.0, 1.0), ("walkin_rate", 0.0, 10.0),
                      ("replenish_cover", 0.0, 10.0), ("count_share", 0.0, 1.0),
                      ("cancel_share", 0.0, 1.0), ("decline", 0.0, 1.0)):
        v = getattr(p, k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            problems.append((k, f"must be a number in [{lo:g}, {hi:g}]"))
    if any(not 0.0 <= h < 24.0 for h in p.replenish_hours):
        problems.append(("replenish_hours", "hours must be in [0, 24)"))
    if problems:
        raise InputError(problems, "generate --day")
    return p


def arrival_rate(t: np.ndarray, p: DayParams) -> np.ndarray:
    """The shape of the arrival rate at ``t`` seconds from midnight (unnormalised; the
    afternoon plateau is about 1)."""
    h = np.asarray(t, dtype=np.float64) / 3600.0
    day = 0.55 - 0.45 * np.cos(2.0 * math.pi * (h - 4.5) / 24.0)  # low at 04:30, high at 16:30
    evening = p.evening * np.exp(-0.5 * ((h - 21.0) / 1.2) ** 2)
    spike = p.spike * np.exp(-np.asarray(t) / 150.0) + 2.5 * np.exp(-np.asarray(t) / 1800.0)
    return day + evening + spike


def _cdf(p: DayParams) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(0.0, p.duration, int(p.duration) + 1)
    r = arrival_rate(grid, p)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * np.diff(grid))])
    return grid, cdf / cdf[-1]


def generate_day(network: Instance, seed: int = 0, **knobs: Any) -> tuple[dict[str, Any],
                                                                          Iterator[str]]:
    """The header and the event lines (JSON, in time order) of a day for ``network``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError([("seed", "must be a non-negative integer")], "generate --day")
    p = day_params(**knobs)
    return _Day(network, seed, p).build()


def write_generated_day(path: str | os.PathLike[str], network: Instance, seed: int = 0,
                        **knobs: Any) -> tuple[dict[str, Any], int]:
    """Generate a day and write it (JSON Lines); returns the header and the bytes written."""
    header, lines = generate_day(network, seed, **knobs)
    return header, write_day(path, header, lines)


class _Day:
    def __init__(self, net: Instance, seed: int, p: DayParams) -> None:
        self.net, self.p, self.seed = net, p, seed
        streams = np.random.SeedSequence([seed, 1111]).spawn(8)
        (self.r_time, self.r_geo, self.r_ord, self.r_walk, self.r_repl, self.r_count,
         self.r_cancel, self.r_acc) = (np.random.Generator(np.random.PCG64(s)) for s in streams)
        nodes = net.nodes
        self.sku_ids = [s.id for s in net.skus]
        sku_index = {s: i for i, s in enumerate(self.sku_ids)}
        self.node_ids = [n.id for n in nodes]
        self.store = np.array([n.kind == "store" for n in nodes], dtype=bool)
        self.lat = np.array([n.lat for n in nodes], dtype=np.float64)
        self.lon = np.array([n.lon for n in nodes], dtype=np.float64)
        pn, ps, pq = [], [], []
        for i, n in enumerate(nodes):
            for s, q in n.inventory.items():
                pn.append(i)
                ps.append(sku_index[s])
                pq.append(q)
        self.pool_node = np.array(pn, dtype=np.int64)
        self.pool_sku = np.array(ps, dtype=np.int64)
        self.pool_qty = np.array(pq, dtype=np.int64)
        self.eligible = np.array([s.store_eligible for s in net.skus], dtype=bool)

    # ---- arrivals --------------------------------------------------------------------------
    def times(self) -> np.ndarray:
        grid, cdf = _cdf(self.p)
        self.grid, self.cdf = grid, cdf
        u = np.sort(self.r_time.random(self.p.orders))
        return np.round(np.interp(u, cdf, grid), 3)

    def places(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Customers in the cities within the network's reach (by population), else around
        its nodes."""
        c, rng = cities(), self.r_geo
        reach = self.net.shipping.zones[-1].max_km
        near = np.zeros(len(c.lat), dtype=bool)
        for a in range(0, len(self.lat), 2000):
            d = haversine_km(c.lat[:, None], c.lon[:, None], self.lat[None, a:a + 2000],
                             self.lon[None, a:a + 2000])
            near |= (d <= reach).any(axis=1)
        if near.any():
            pop = np.where(near, c.population, 0).astype(np.float64)
            city = rng.choice(len(pop), size=n, p=pop / pop.sum())
            return _scatter(rng, c.lat[city], c.lon[city],
                            _spread_km(c.population[city].astype(np.float64)))
        node = rng.integers(0, len(self.lat), size=n)
        return _scatter(rng, self.lat[node], self.lon[node], np.full(n, 10.0))

    def baskets(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng, n_sku = self.r_ord, len(self.sku_ids)
        stock = np.bincount(self.pool_sku, weights=self.pool_qty, minlength=n_sku)
        pop = stock + 0.05 * max(float(np.median(stock[stock > 0])) if (stock > 0).any()
                                 else 1.0, 1e-9)
        pop = pop / pop.sum()
        _, line_order, sku = draw_baskets(rng, n, pop)
        qty = rng.choice(len(QTY_P), size=len(sku), p=QTY_P) + 1
        qty[~self.eligible[sku]] = 1
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(line_order, minlength=n), out=ptr[1:])
        return ptr, sku, qty

    def express(self, lat: np.ndarray, lon: np.ndarray, ptr: np.ndarray, sku: np.ndarray
                ) -> np.ndarray:
        """Orders offered express (a warehouse within reach stocks every line), a share of
        them taking it."""
        n = len(lat)
        ex_km = self.net.shipping.express_max_km
        u = self.r_ord.random(n)
        if ex_km is None:
            return u < self.p.express_share
        wh = np.flatnonzero(~self.store)
        has = np.zeros((len(self.sku_ids), len(wh)), dtype=bool)
        col = np.searchsorted(wh, self.pool_node)
        ok = ~self.store[self.pool_node] & (self.pool_qty > 0)
        has[self.pool_sku[ok], col[ok]] = True
        offered = np.zeros(n, dtype=bool)
        line_order = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
        for a in range(0, n, 50_000):
            b = min(a + 50_000, n)
            reach = haversine_km(lat[a:b, None], lon[a:b, None], self.lat[None, wh],
                                 self.lon[None, wh]) <= ex_km
            la, lb = int(ptr[a]), int(ptr[b])
            line_ok = (reach[line_order[la:lb] - a] & has[sku[la:lb]]).any(axis=1)
            bad = np.bincount(line_order[la:lb] - a, weights=~line_ok, minlength=b - a)
            offered[a:b] = bad == 0
        frac = float(offered.mean()) if n else 0.0
        share = min(1.0, self.p.express_share / frac) if frac > 0 else 0.0
        return offered & (u < share)

    # ---- the nodes' day --------------------------------------------------------------------
    def _hours(self, rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
        lo_s, hi_s = lo * 3600.0, min(hi * 3600.0, self.p.duration)
        if hi_s <= lo_s:
            return np.full(n, np.nan)
        return np.round(rng.uniform(lo_s, hi_s, n), 3)

    def walkins(self) -> list[tuple[float, str]]:
        at = np.flatnonzero(self.store[self.pool_node] & (self.pool_qty > 0))
        count = self.r_walk.poisson(self.p.walkin_rate * self.pool_qty[at])
        pools = np.repeat(at, count)
        t = self._hours(self.r_walk, len(pools), STORE_OPEN, STORE_CLOSE)
        return [(ti, dumps({"t": ti, "type": "sale", "node": self.node_ids[self.pool_node[k]],
                            "sku": self.sku_ids[self.pool_sku[k]], "qty": 1}))
                for ti, k in zip(t.tolist(), pools.tolist(), strict=True) if ti == ti]

    def replenishments(self, t_order: np.ndarray, ptr: np.ndarray, sku: np.ndarray,
                       qty: np.ndarray) -> list[tuple[float, str]]:
        p, rng = self.p, self.r_repl
        n_sku = len(self.sku_ids)
        wh_pool = np.flatnonzero(~self.store[self.pool_node] & (self.pool_qty > 0))
        held = np.bincount(self.pool_sku[wh_pool], weights=self.pool_qty[wh_pool],
                           minlength=n_sku)
        share = self.pool_qty[wh_pool] / np.maximum(held[self.pool_sku[wh_pool]], 1.0)
        line_t = np.repeat(t_order, np.diff(ptr))
        waves = sorted(h * 3600.0 for h in p.replenish_hours if h * 3600.0 < p.duration)
        out: list[tuple[float, str]] = []
        for k, w in enumerate(waves):
            end = waves[k + 1] if k + 1 < len(waves) else p.duration
            sel = (line_t >= w) & (line_t < end)
            demand = np.bincount(sku[sel], weights=qty[sel], minlength=n_sku)
            q = np.round(demand[self.pool_sku[wh_pool]] * share * p.replenish_cover
                         * rng.uniform(0.6, 1.4, len(wh_pool))).astype(np.int64)
            for node in np.unique(self.pool_node[wh_pool]).tolist():
                m = (self.pool_node[wh_pool] == node) & (q > 0)
                if m.any():
                    items = {self.sku_ids[s]: v for s, v in
                             zip(self.pool_sku[wh_pool[m]].tolist(), q[m].tolist(), strict=True)}
                    out.append((w, dumps({"t": w, "type": "replenish",
                                          "node": self.node_ids[node], "items": items})))
        w = STORE_RESTOCK_HOUR * 3600.0
        if w < p.duration:
            st_pool = np.flatnonzero(self.store[self.pool_node])
            pick = st_pool[rng.random(len(st_pool)) < 0.5]
            q = rng.integers(1, 4, len(pick))
            for node in np.unique(self.pool_node[pick]).tolist():
                m = self.pool_node[pick] == node
                items = {self.sku_ids[s]: v for s, v in
                         zip(self.pool_sku[pick[m]].tolist(), q[m].tolist(), strict=True)}
                out.append((w, dumps({"t": w, "type": "replenish", "node": self.node_ids[node],
                                      "items": items})))
        return out

    def counts(self) -> list[tuple[float, str]]:
        rng = self.r_count
        st_pool = np.flatnonzero(self.store[self.pool_node])
        pick = st_pool[rng.random(len(st_pool)) < self.p.count_share]
        t = self._hours(rng, len(pick), STORE_OPEN, STORE_CLOSE)
        q = np.maximum(0, self.pool_qty[pick] - rng.integers(0, 4, len(pick)))
        return [(ti, dumps({"t": ti, "type": "count", "node": self.node_ids[self.pool_node[k]],
                            "sku": self.sku_ids[self.pool_sku[k]], "qty": v}))
                for ti, k, v in zip(t.tolist(), pick.tolist(), q.tolist(), strict=True)
                if ti == ti]

    def cancels(self, t_order: np.ndarray, ids: list[str]) -> list[tuple[float, str]]:
        rng = self.r_cancel
        pick = np.flatnonzero(rng.random(len(t_order)) < self.p.cancel_share)
        t = np.maximum(np.round(t_order[pick] + rng.exponential(CANCEL_DELAY_S, len(pick)), 3),
                       t_order[pick] + 0.001)  # always after the arrival
        keep = t < self.p.duration
        return [(ti, dumps({"t": ti, "type": "cancel", "order": ids[k]}))
                for ti, k in zip(t[keep].tolist(), pick[keep].tolist(), strict=True)]

    def acceptance(self) -> list[tuple[float, str]]:
        stores = np.flatnonzero(self.store)
        p = np.round(np.clip(1.0 - self.r_acc.exponential(max(self.p.decline, 1e-12),
                                                          len(stores)), 0.3, 1.0), 3)
        return [(0.0, dumps({"t": 0.0, "type": "acceptance", "node": self.node_ids[s],
                             "p": float(v)})) for s, v in zip(stores.tolist(), p.tolist(),
                                                              strict=True)]

    # ---- the stream ------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, Any], Iterator[str]]:
        p, n = self.p, self.p.orders
        t = self.times()
        lat, lon = self.places(n)
        ptr, sku, qty = self.baskets(n)
        express = self.express(lat, lon, ptr, sku)
        complete = self.r_ord.random(n) < p.ship_complete_share
        bulky = np.bincount(np.repeat(np.arange(n), np.diff(ptr)),
                            weights=~self.eligible[sku], minlength=n) > 0
        width = len(str(n))
        ids = [f"D-{i + 1:0{width}d}" for i in range(n)]
        others = (self.acceptance() + self.walkins() + self.replenishments(t, ptr, sku, qty)
                  + self.counts() + self.cancels(t, ids))
        others.sort(key=lambda e: e[0])  # stable: equal times keep the order above
        bulky_pen = 2.0 * float(self.net.unfilled_penalty)
        header = {"network": self.net.name, "seed": self.seed, "orders": n,
                  "duration": p.duration, "start": "11-11 00:00 local time",
                  "generator": {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in asdict(p).items()}}

        def lines() -> Iterator[str]:
            sku_ids = self.sku_ids
            tl, la, lo = t.tolist(), lat.tolist(), lon.tolist()
            ex, cp, bk, pt = express.tolist(), complete.tolist(), bulky.tolist(), ptr.tolist()
            sk, qt = sku.tolist(), qty.tolist()
            j = 0
            for i in range(n):
                while j < len(others) and others[j][0] <= tl[i]:
                    yield others[j][1]
                    j += 1
                d: dict[str, Any] = {"t": tl[i], "type": "order", "id": ids[i], "lat": la[i],
                                     "lon": lo[i]}
                if ex[i]:
                    d["service"] = "express"
                if cp[i]:
                    d["max_packages"] = 1
                if bk[i]:
                    d["unfilled_penalty"] = bulky_pen
                d["lines"] = [{"sku": sku_ids[sk[k]], "qty": qt[k]}
                              for k in range(pt[i], pt[i + 1])]
                yield dumps(d)
            for _, text in others[j:]:
                yield text

        return header, lines()
