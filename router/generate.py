"""Realistic sale-day batches (an 11/11 peak in mainland China), at every size.

    import router
    inst = router.generate("m", seed=1)                       # an Instance, validated
    data = generate_data("xl", seed=1, express_share=0.3)     # the plain mapping, not validated
    router.io.write(data, "xl.json")                          # JSON or YAML by extension

The batch is drawn from a few seeded random streams (numpy ``PCG64``), so the same seed and
options always give the same instance and the same bytes on disk (with the same NumPy release:
NumPy does not promise identical streams across releases). What it holds:

- Geography (``router/data/cn_cities.csv``, CC BY 4.0): customers in cities in proportion to
  population, spread around the city centre; warehouses in the logistics parks of regional hubs
  (the largest cities, kept apart); partner stores in cities in proportion to population, each
  serving only its own surroundings (``service_radius_km`` 30-80 km).
- Catalogue: Zipf-like popularity; weights from small parcels to bulky goods (15-50 kg) that
  stores may not ship (``store_eligible: false``). Baskets of 1-5 lines, most single-line;
  quantities mostly 1.
- Stock: a popular SKU sits in most warehouses of a small network and in about a dozen
  (``HUB_SPREAD``) of a large one, the tail in one or two; warehouse stock is deep (1.5-4 times
  the batch's demand, split by catchment). Stores carry a few store-eligible SKUs (a store holds
  the SKU of a random order line with probability ``store_share``), shallow (1-8 units), with a
  safety stock of 0-2 units kept for walk-in shoppers. Some SKUs (hot items more often) are
  short overall: the network holds 20-70 % of their batch demand, chosen until about a
  ``scarcity`` share of the batch's units cannot be filled by any plan.
- Capacity per batch: warehouses large (1.3-2.2 times the packages of their catchment, the
  orders nearest to them), a quarter of them near saturation (0.55-0.9 times); stores small
  (a few packages). ``tightness`` divides every capacity.
- Service: express is offered where a warehouse within ``EXPRESS_MAX_KM`` stocks every line of
  the order; an ``express_share`` of all orders takes it (at most the share it is offered to).
  Distance zones shaped like Chinese couriers' tariffs (same city, same province, neighbouring
  provinces, far; the last zone covers every pair in mainland China); 15 % of the orders ship
  complete (``max_packages: 1``), the others at most ``default_max_packages: 3`` packages.
  A unit left unfilled costs 300 (600 in an order holding a bulky SKU).

Bounded candidates: a line can go to the warehouses holding its SKU plus the few stores around
the customer that carry it, so line-arcs per line stay small at every size (about 1.6 for
``xs`` to 6.4 for ``xl``, at most about 20).
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np

from router.errors import InputError
from router.geo import haversine_km
from router.instance import FORMAT, Instance

KM_PER_DEG = 6371.0 * math.pi / 180.0  # 111.195 km per degree of latitude

# Distance zones shaped like Chinese couriers' e-commerce tariffs: same city, same province,
# neighbouring provinces, far. 5000 km covers every pair of mainland cities (at most 4729 km).
ZONES: tuple[tuple[float, float, float], ...] = (
    (50.0, 4.0, 0.8),
    (300.0, 6.0, 1.5),
    (800.0, 9.0, 3.0),
    (5000.0, 14.0, 6.0),
)
EXPRESS_MAX_KM = 500.0  # next-day delivery radius
UNFILLED_PENALTY = 300.0  # per unit left unfilled
BULKY_PENALTY = 600.0  # orders holding a bulky SKU: a lost sale of a large item costs more
DEFAULT_MAX_PACKAGES = 3
SHIP_COMPLETE_SHARE = 0.15  # orders with max_packages 1

LINES_P = (0.62, 0.20, 0.10, 0.05, 0.03)  # basket sizes 1..5
QTY_P = (0.86, 0.10, 0.03, 0.01)  # quantities 1..4 (bulky lines always 1)
# weight classes: share, and the weight law (small parcels ... bulky goods)
CLASS_P = (0.52, 0.27, 0.13, 0.08)
BULKY = 3

HUB_SPREAD = 12.0  # a popular SKU is stocked in about this many warehouses at most

PRESETS_ORDER = ("xs", "s", "m", "l", "xl")


@dataclass(frozen=True)
class Params:
    """Every knob of the generator (see :data:`PRESETS`)."""

    orders: int
    warehouses: int
    stores: int
    skus: int
    scarcity: float = 0.03  # share of the batch's units short overall (SKUs under-stocked)
    store_share: float = 0.1  # chance that a store carries the SKU of a random order line
    express_share: float = 0.15  # share of express orders
    tightness: float = 1.0  # capacities are divided by this (higher: nodes saturate)
    zipf: float = 0.9  # exponent of SKU popularity
    name: str | None = None


PRESETS: dict[str, Params] = {
    "xs": Params(orders=50, warehouses=3, stores=12, skus=60, store_share=0.25),
    "s": Params(orders=500, warehouses=6, stores=60, skus=400, store_share=0.15),
    "m": Params(orders=2_000, warehouses=10, stores=240, skus=1_500, store_share=0.08),
    "l": Params(orders=20_000, warehouses=20, stores=980, skus=6_000, store_share=0.03),
    "xl": Params(orders=200_000, warehouses=40, stores=2_960, skus=20_000, store_share=0.01),
}

KNOBS = ("orders", "warehouses", "stores", "skus", "scarcity", "store_share", "express_share",
         "tightness", "zipf", "name")


# --------------------------------------------------------------------------------------------
# cities


@dataclass(frozen=True, eq=False)
class Cities:
    name: tuple[str, ...]
    province: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray


@functools.lru_cache(maxsize=1)
def cities() -> Cities:
    """The shipped city table (``router/data/cn_cities.csv``), sorted by population."""
    text = resources.files("router").joinpath("data/cn_cities.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    c = Cities(
        name=tuple(r["city"] for r in rows),
        province=tuple(r["province"] for r in rows),
        lat=np.array([float(r["lat"]) for r in rows]),
        lon=np.array([float(r["lon"]) for r in rows]),
        population=np.array([int(r["population"]) for r in rows], dtype=np.int64),
    )
    for a in (c.lat, c.lon, c.population):
        a.setflags(write=False)
    return c


def _spread_km(pop: np.ndarray) -> np.ndarray:
    """Scale (km) of the spread of a city's customers around its centre."""
    return 2.0 + 4.0 * np.sqrt(pop / 1e6)


def _scatter(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray,
             sigma_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points around (lat, lon): Gaussian in km with scale ``sigma_km``, cut at 3 sigma."""
    n = len(lat)
    r = np.minimum(sigma_km * np.sqrt(-2.0 * np.log1p(-rng.random(n))), 3.0 * sigma_km)
    ang = rng.random(n) * 2.0 * math.pi
    dlat = r * np.sin(ang) / KM_PER_DEG
    dlon = r * np.cos(ang) / (KM_PER_DEG * np.cos(np.radians(lat)))
    return np.round(lat + dlat, 4), np.round(lon + dlon, 4)


def hub_cities(n: int) -> np.ndarray:
    """``n`` regional hubs: the largest cities, each at least a separation apart from the
    hubs already chosen (the separation shrinks until ``n`` are found; cities repeat when
    ``n`` exceeds the table)."""
    c = cities()
    chosen: list[int] = []
    sep = max(120.0, 1200.0 / math.sqrt(max(n, 1)))
    while len(chosen) < n and sep > 1.0:
        for i in range(len(c.name)):
            if len(chosen) >= n:
                break
            if i in chosen:
                continue
            if chosen:
                d = haversine_km(c.lat[chosen], c.lon[chosen], c.lat[i], c.lon[i])
                if float(d.min()) < sep:
                    continue
            chosen.append(i)
        sep /= 2.0
    while len(chosen) < n:  # more hubs than cities: second parks in the largest ones
        chosen.append(chosen[len(chosen) % len(c.name)])
    return np.array(chosen, dtype=np.int64)


_ID_SAFE = re.compile(r"[^A-Za-z0-9]+")


def _id_part(city: str) -> str:
    return _ID_SAFE.sub("", city) or "X"


# --------------------------------------------------------------------------------------------
# the generator


def params_for(preset: str = "s", **knobs: Any) -> Params:
    """The preset's parameters with the given knobs (``None`` values ignored) applied and
    checked; raises :class:`InputError` naming the bad knob."""
    if preset not in PRESETS:
        raise InputError([("preset", f"unknown preset {preset!r}; use one of "
                                      f"{', '.join(PRESETS_ORDER)}")], "generate")
    unknown = [k for k in knobs if k not in KNOBS]
    if unknown:
        raise InputError([(k, "unknown knob") for k in unknown], "generate")
    p = replace(PRESETS[preset], **{k: v for k, v in knobs.items() if v is not None})
    problems: list[tuple[str, str]] = []
    for k, lo, hi in (("orders", 1, 5_000_000), ("warehouses", 1, 2_000),
                      ("stores", 0, 100_000), ("skus", 1, 1_000_000)):
        v = getattr(p, k)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            problems.append((k, f"must be an integer in [{lo}, {hi:,}]"))
    for k, flo, fhi in (("scarcity", 0.0, 1.0), ("store_share", 0.0, 0.9),
                        ("express_share", 0.0, 1.0), ("zipf", 0.0, 3.0), ("tightness", 0.01, 100.0)):
        v = getattr(p, k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not flo <= v <= fhi:
            problems.append((k, f"must be a number in [{flo:g}, {fhi:g}]"))
    if not problems and p.warehouses * p.skus > 50_000_000:
        problems.append(("skus", "warehouses x SKUs must be at most 50,000,000"))
    if p.name is not None and (not isinstance(p.name, str) or not p.name.strip()):
        problems.append(("name", "must be a non-empty string"))
    if problems:
        raise InputError(problems, "generate")
    return p


def generate(preset: str = "s", seed: int = 0, **knobs: Any) -> Instance:
    """A realistic sale-day batch as a validated :class:`~router.instance.Instance`.

    ``preset`` is one of ``xs``, ``s``, ``m``, ``l``, ``xl`` (about 50, 500, 2,000, 20,000
    and 200,000 orders); ``knobs`` override its :class:`Params` (``orders``, ``warehouses``,
    ``stores``, ``skus``, ``scarcity``, ``store_share``, ``express_share``, ``tightness``,
    ``zipf``, ``name``). The same seed and knobs give the same instance.
    """
    data = generate_data(preset, seed, **knobs)
    return Instance.from_dict(data, source=f"generate({preset!r}, seed={seed})")


def generate_data(preset: str = "s", seed: int = 0, **knobs: Any) -> dict[str, Any]:
    """The batch as a plain ``router/instance-v1`` mapping (key order as ``Instance.to_dict``)."""
    p = params_for(preset, **knobs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError([("seed", "must be a non-negative integer")], "generate")
    return _Generator(p, seed, preset).build()


def draw_baskets(rng: np.random.Generator, n_orders: int, pop: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each order's basket: its number of lines ``k`` (from ``LINES_P``, at most the catalogue)
    and the distinct SKUs of its lines drawn by popularity ``pop`` (``line_order``, ``sku``).
    SKUs repeated within an order are drawn again; what is still repeated after 50 draws (only
    for catalogues about the size of a basket) is dropped."""
    n = len(pop)
    k = np.minimum(rng.choice(len(LINES_P), size=n_orders, p=LINES_P) + 1, n)
    line_order = np.repeat(np.arange(n_orders, dtype=np.int64), k)
    sku = rng.choice(n, size=len(line_order), p=pop)
    for _ in range(50):  # redraw SKUs repeated within an order
        key = line_order * n + sku
        srt = np.argsort(key, kind="stable")
        dup = np.zeros(len(key), dtype=bool)
        dup[srt[1:]] = key[srt[1:]] == key[srt[:-1]]
        if not dup.any():
            break
        sku[dup] = rng.choice(n, size=int(dup.sum()), p=pop)
    else:  # pragma: no cover - vanishingly rare: drop what is still repeated
        keep = ~dup
        line_order, sku = line_order[keep], sku[keep]
    return k, line_order, sku


class _Generator:
    def __init__(self, p: Params, seed: int, preset: str) -> None:
        self.p = p
        self.seed = seed
        self.name = p.name or f"sale-day-{preset}-{seed}"
        # independent streams: changing the order count does not redraw the catalogue, etc.
        streams = np.random.SeedSequence([seed, 20261111]).spawn(6)
        (self.r_cat, self.r_geo, self.r_ord, self.r_store, self.r_wh, self.r_cap) = (
            np.random.Generator(np.random.PCG64(s)) for s in streams)

    # ---- catalogue -------------------------------------------------------------------------
    def catalogue(self) -> None:
        n, rng = self.p.skus, self.r_cat
        cls = rng.choice(4, size=n, p=CLASS_P)
        if n >= 2 and not (cls == BULKY).any():
            cls[rng.integers(n)] = BULKY
        if not (cls != BULKY).any():
            cls[0] = 0
        z = rng.standard_normal(n)
        w = np.select(
            [cls == 0, cls == 1, cls == 2],
            [np.clip(np.exp(np.log(0.25) + 0.6 * z), 0.05, 1.0),
             np.clip(np.exp(np.log(1.0) + 0.5 * z), 0.3, 3.0),
             np.clip(np.exp(np.log(5.0) + 0.45 * z), 2.0, 14.0)],
            rng.uniform(15.0, 50.0, n))
        self.weight = np.round(w, 2)
        self.eligible = cls != BULKY
        rank = rng.permutation(n) + 1.0
        pop = rank ** -self.p.zipf
        pop[~self.eligible] *= 0.5  # bulky goods sell less
        self.pop = pop / pop.sum()
        self.sku_ids = [f"SKU-{i + 1:0{max(5, len(str(n)))}d}" for i in range(n)]

    # ---- geography -------------------------------------------------------------------------
    def geography(self) -> None:
        c, rng = cities(), self.r_geo
        share = c.population / c.population.sum()
        sigma = _spread_km(c.population.astype(np.float64))
        # warehouses: logistics parks 15-35 km out of the hub city's centre
        W = self.p.warehouses
        self.wh_city = hub_cities(W)
        r = rng.uniform(15.0, 35.0, W)
        ang = rng.random(W) * 2.0 * math.pi
        hl, hn = c.lat[self.wh_city], c.lon[self.wh_city]
        self.wh_lat = np.round(hl + r * np.sin(ang) / KM_PER_DEG, 4)
        self.wh_lon = np.round(hn + r * np.cos(ang) / (KM_PER_DEG * np.cos(np.radians(hl))), 4)
        # stores: in cities in proportion to population, in the denser core
        S = self.p.stores
        self.st_city = rng.choice(len(share), size=S, p=share)
        self.st_lat, self.st_lon = _scatter(rng, c.lat[self.st_city], c.lon[self.st_city],
                                            0.6 * sigma[self.st_city])
        self.st_radius = rng.integers(6, 17, S) * 5.0  # 30..80 km
        # customers: in proportion to population, spread around the city
        self.o_city = rng.choice(len(share), size=self.p.orders, p=share)
        self.o_lat, self.o_lon = _scatter(rng, c.lat[self.o_city], c.lon[self.o_city],
                                          sigma[self.o_city])

    # ---- orders ----------------------------------------------------------------------------
    def orders(self) -> None:
        n_orders, rng, n = self.p.orders, self.r_ord, self.p.skus
        k, line_order, sku = draw_baskets(rng, n_orders, self.pop)
        qty = rng.choice(len(QTY_P), size=len(sku), p=QTY_P) + 1
        qty[~self.eligible[sku]] = 1
        self.line_order, self.line_sku, self.line_qty = line_order, sku, qty
        self.order_ptr = np.zeros(n_orders + 1, dtype=np.int64)
        np.cumsum(np.bincount(line_order, minlength=n_orders), out=self.order_ptr[1:])
        self.u_express = rng.random(n_orders)
        self.ship_complete = rng.random(n_orders) < SHIP_COMPLETE_SHARE
        bulky_line = ~self.eligible[sku]
        self.bulky_order = np.bincount(line_order, weights=bulky_line, minlength=n_orders) > 0
        self.demand = np.bincount(sku, weights=qty, minlength=n).astype(np.int64)
        # expected packages per order, for capacity: one per line, at most the order's limit
        self.n_packages = np.where(self.ship_complete, 1, np.minimum(k, DEFAULT_MAX_PACKAGES))

    # ---- stores: assortment and shallow stock ----------------------------------------------
    def store_stock(self) -> None:
        S, rng, n = self.p.stores, self.r_store, self.p.skus
        self.st_ss = rng.choice(3, size=S, p=(0.15, 0.5, 0.35))
        # a store carries SKU s with probability c(s) = min(1, a * pop(s) ** 0.5), popular
        # SKUs more often but a long tail too; a is set so that a store carries the SKU of a
        # random order line with probability store_share
        elig = self.eligible
        c = np.zeros(n)
        if S > 0 and self.p.store_share > 0 and elig.any():
            base = np.where(elig, self.pop ** 0.5, 0.0)
            lo, hi = 0.0, 1.0 / float(base[elig].min())
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if float((self.pop * np.minimum(1.0, mid * base)).sum()) < self.p.store_share:
                    lo = mid
                else:
                    hi = mid
            c = np.minimum(1.0, hi * base)
        count = rng.binomial(S, c) if S > 0 else np.zeros(n, dtype=np.int64)
        sku = np.repeat(np.arange(n, dtype=np.int64), count)
        store = rng.integers(0, max(S, 1), size=len(sku))
        key = np.unique(store * n + sku)  # sorted by store, then SKU
        self.sp_store, self.sp_sku = key // n, key % n
        inv = 1 + np.minimum(rng.geometric(0.4, len(key)) - 1, 7)
        self.sp_inv = inv.astype(np.int64)

    # ---- warehouses: assortment, deep stock, scarcity --------------------------------------
    def warehouse_stock(self) -> None:
        W, rng, n = self.p.warehouses, self.r_wh, self.p.skus
        # catchment: the orders nearest each warehouse
        near = np.empty(self.p.orders, dtype=np.int64)
        self.express_reach = np.empty((self.p.orders, W), dtype=bool)
        for a in range(0, self.p.orders, 20_000):
            b = min(a + 20_000, self.p.orders)
            d = haversine_km(self.o_lat[a:b, None], self.o_lon[a:b, None],
                             self.wh_lat[None, :], self.wh_lon[None, :])
            near[a:b] = d.argmin(axis=1)
            self.express_reach[a:b] = d <= EXPRESS_MAX_KM
        self.catch_orders = np.bincount(near, minlength=W)
        self.catch_packages = np.bincount(near, weights=self.n_packages, minlength=W)
        wshare = (self.catch_orders + 0.05 * self.p.orders / W + 1.0)
        wshare = wshare / wshare.sum()
        # assortment: the popular SKUs in most regional hubs (in about HUB_SPREAD of them in a
        # large network), the tail in one or two warehouses
        rank_q = (np.argsort(np.argsort(-self.pop, kind="stable"), kind="stable") + 0.5) / n
        hold_p = np.clip(0.9 * (rank_q / 0.02) ** -0.7, 0.0, 0.9) * min(1.0, HUB_SPREAD / W)
        hold = rng.random((W, n)) < hold_p[None, :]
        orphan = np.flatnonzero(~hold.any(axis=0))
        hold[rng.choice(W, size=len(orphan), p=wshare), orphan] = True
        # depth: 1.5-4 times the batch demand of the SKU (at least its expected demand)
        expected = self.pop * float(self.line_qty.sum())
        total = np.ceil(np.maximum(self.demand, expected) * rng.uniform(1.5, 4.0, n))
        weight = hold * (wshare[:, None] * rng.uniform(0.5, 1.5, (W, n)))
        frac = weight / weight.sum(axis=0, keepdims=True)
        inv = np.maximum(np.round(total[None, :] * frac), rng.integers(2, 11, (W, n)))
        inv = np.where(hold, inv, 0).astype(np.int64)
        # scarcity: SKUs short overall (the network holds 20-70 % of their batch demand), drawn
        # with a bias to the hot items until the shortfall reaches the scarcity share of units
        demanded = np.flatnonzero(self.demand > 0)
        keep_frac = rng.uniform(0.2, 0.7, n)
        short_list: list[int] = []
        if self.p.scarcity > 0 and len(demanded):
            w = np.sqrt(self.demand[demanded].astype(np.float64))
            cand = demanded[np.argsort(rng.random(len(demanded)) ** (1.0 / w), kind="stable")[::-1]]
            goal = self.p.scarcity * float(self.demand.sum())
            lost = 0.0
            for s in cand.tolist():
                shortfall = int(self.demand[s]) - int(self.demand[s] * keep_frac[s])
                if lost + shortfall <= max(1.25 * goal, 1.0):
                    short_list.append(s)
                    lost += shortfall
                if lost >= goal:
                    break
        short = np.sort(np.array(short_list, dtype=np.int64))
        avail_st = np.maximum(0, self.sp_inv - self.st_ss[self.sp_store])
        for s in short.tolist():
            keep_total = int(self.demand[s] * keep_frac[s])
            at = np.flatnonzero(self.sp_sku == s)
            in_stores = int(avail_st[at].sum())
            if in_stores > keep_total:  # what is left on the shelf is held back for walk-ins
                self.sp_inv[at] = np.minimum(self.sp_inv[at], self.st_ss[self.sp_store[at]])
                avail_st[at] = 0
                in_stores = 0
            holders = np.flatnonzero(hold[:, s])
            share_s = weight[holders, s] / weight[holders, s].sum()
            inv[holders, s] = rng.multinomial(keep_total - in_stores, share_s)
        self.short = short
        self.wh_hold = hold
        self.wh_inv = inv

    # ---- express: offered where a warehouse within reach stocks every line -----------------
    def express_service(self) -> None:
        has = (self.wh_inv > 0).T  # (SKU, W)
        line_ok = (self.express_reach[self.line_order] & has[self.line_sku]).any(axis=1)
        bad = np.bincount(self.line_order, weights=~line_ok, minlength=self.p.orders)
        offered = bad == 0
        frac = float(offered.mean())
        share = min(1.0, self.p.express_share / frac) if frac > 0 else 0.0
        self.express = offered & (self.u_express < share)

    # ---- capacity and handling -------------------------------------------------------------
    def capacity(self) -> None:
        W, S, rng = self.p.warehouses, self.p.stores, self.r_cap
        t = float(self.p.tightness)
        headroom = rng.uniform(1.3, 2.2, W)
        n_sat = round(0.25 * W) if W >= 2 else 0
        sat = rng.permutation(W)[:n_sat]
        headroom[sat] = rng.uniform(0.55, 0.9, n_sat)
        self.wh_maxp = np.maximum(5, np.ceil(self.catch_packages * headroom / t)).astype(np.int64)
        self.wh_maxu = np.ceil(self.wh_maxp * rng.uniform(1.5, 2.0, W)).astype(np.int64)
        self.wh_hpp = np.round(rng.uniform(0.8, 1.5, W), 2)
        self.wh_hpu = np.round(rng.uniform(0.15, 0.4, W), 2)
        scale = math.sqrt(self.p.orders / max(5.0 * S, 1.0))
        self.st_maxp = np.maximum(1, np.round(rng.uniform(2.0, 8.0, S) * scale / t)).astype(
            np.int64)
        self.st_maxu = self.st_maxp + rng.integers(0, self.st_maxp + 1)
        self.st_hpp = np.round(rng.uniform(2.0, 4.0, S), 2)
        self.st_hpu = np.round(rng.uniform(0.5, 1.2, S), 2)

    # ---- assembling the mapping ------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        self.catalogue()
        self.geography()
        self.orders()
        self.store_stock()
        self.warehouse_stock()
        self.express_service()
        self.capacity()
        c = cities()
        ids = self.sku_ids
        skus: list[dict[str, Any]] = []
        for i, (w, e) in enumerate(zip(self.weight.tolist(), self.eligible.tolist(), strict=True)):
            skus.append({"id": ids[i], "weight_kg": w} | ({} if e else {"store_eligible": False}))

        nodes: list[dict[str, Any]] = []
        wd = len(str(self.p.warehouses))
        inv = self.wh_inv
        for w in range(self.p.warehouses):
            held = np.flatnonzero(self.wh_hold[w])
            nodes.append({
                "id": f"WH-{w + 1:0{wd}d}-{_id_part(c.name[self.wh_city[w]])}",
                "kind": "warehouse", "lat": float(self.wh_lat[w]), "lon": float(self.wh_lon[w]),
                "handling_per_unit": float(self.wh_hpu[w]),
                "handling_per_package": float(self.wh_hpp[w]),
                "max_packages": int(self.wh_maxp[w]), "max_units": int(self.wh_maxu[w]),
                "inventory": dict(zip([ids[s] for s in held.tolist()], inv[w, held].tolist(),
                                      strict=True)),
            })
        sd = len(str(self.p.stores))
        sp_ptr = np.searchsorted(self.sp_store, np.arange(self.p.stores + 1))
        sp_sku, sp_inv = self.sp_sku.tolist(), self.sp_inv.tolist()
        for s in range(self.p.stores):
            d: dict[str, Any] = {
                "id": f"ST-{s + 1:0{sd}d}-{_id_part(c.name[self.st_city[s]])}",
                "kind": "store", "lat": float(self.st_lat[s]), "lon": float(self.st_lon[s]),
                "handling_per_unit": float(self.st_hpu[s]),
                "handling_per_package": float(self.st_hpp[s]),
                "max_packages": int(self.st_maxp[s]), "max_units": int(self.st_maxu[s]),
            }
            if self.st_ss[s]:
                d["safety_stock"] = int(self.st_ss[s])
            d["service_radius_km"] = float(self.st_radius[s])
            a, b = int(sp_ptr[s]), int(sp_ptr[s + 1])
            d["inventory"] = {ids[k]: q for k, q in zip(sp_sku[a:b], sp_inv[a:b], strict=True)}
            nodes.append(d)

        orders: list[dict[str, Any]] = []
        od = len(str(self.p.orders))
        lat, lon = self.o_lat.tolist(), self.o_lon.tolist()
        express, complete = self.express.tolist(), self.ship_complete.tolist()
        bulky = self.bulky_order.tolist()
        ptr = self.order_ptr.tolist()
        lines = [{"sku": ids[s], "qty": q}
                 for s, q in zip(self.line_sku.tolist(), self.line_qty.tolist(), strict=True)]
        for o in range(self.p.orders):
            d = {"id": f"O-{o + 1:0{od}d}", "lat": lat[o], "lon": lon[o]}
            if express[o]:
                d["service"] = "express"
            if complete[o]:
                d["max_packages"] = 1
            if bulky[o]:
                d["unfilled_penalty"] = BULKY_PENALTY
            d["lines"] = lines[ptr[o]:ptr[o + 1]]
            orders.append(d)

        return {
            "format": FORMAT,
            "name": self.name,
            "shipping": {
                "zones": [{"max_km": m, "per_package": pp, "per_kg": pk} for m, pp, pk in ZONES],
                "express_max_km": EXPRESS_MAX_KM,
            },
            "unfilled_penalty": UNFILLED_PENALTY,
            "default_max_packages": DEFAULT_MAX_PACKAGES,
            "skus": skus,
            "nodes": nodes,
            "orders": orders,
        }
