"""A picture of a plan: nodes and orders on a longitude/latitude map, shipments as lines
coloured by the kind of node that sends them, warehouses and stores apart, unfilled orders
marked. A large batch is drawn as densities instead (orders and shipment lines blended), so
that it stays readable.

matplotlib is an optional dependency (``pip install 'router[plot]'``); without it
:func:`draw_map` raises :class:`PlotUnavailable`. Only matplotlib's object interface is used
(a :class:`~matplotlib.figure.Figure` on an Agg canvas), never ``pyplot``: no global state of
the caller's process is touched.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import numpy as np

from router.errors import RouterError
from router.instance import Instance
from router.plan import Plan

FIGURE_RATIO = 1.25  # width / height of the map's axes
DENSE_SHIPMENTS = 3000
"""Above this many shipments (or orders), the density view is drawn."""
WAREHOUSE = "#1f5fa8"
STORE = "#e07b00"
UNFILLED = "#d62728"


class PlotUnavailable(RouterError):
    """matplotlib is not installed."""


def require() -> None:
    """Raise :class:`PlotUnavailable` unless matplotlib can be imported."""
    _matplotlib()


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.colors import LinearSegmentedColormap, LogNorm
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        raise PlotUnavailable("drawing a map needs matplotlib: pip install 'router[plot]'"
                              ) from None
    return matplotlib, FigureCanvasAgg, LineCollection, LinearSegmentedColormap, LogNorm, \
        Figure, Line2D


def draw_map(plan: Plan, instance: Instance, path: str | os.PathLike[str], *,
             density: bool | None = None, dpi: int = 150) -> bool:
    """Draw ``plan`` on a map and save it to ``path`` (PNG, SVG or PDF by the extension).
    ``density``: the density view (default: for batches of more than ``DENSE_SHIPMENTS``
    shipments or orders). Returns whether the density view was drawn."""
    _, FigureCanvasAgg, LineCollection, LinearSegmentedColormap, LogNorm, Figure, Line2D = \
        _matplotlib()
    nodes = {n.id: n for n in instance.nodes}
    orders = {o.id: o for o in instance.orders}
    ships = [s for s in plan.shipments if s.node in nodes and s.order in orders]
    if density is None:
        density = len(ships) > DENSE_SHIPMENTS or len(orders) > DENSE_SHIPMENTS
    units: Counter[str] = Counter()
    for s in ships:
        units[s.node] += s.units
    unfilled_units: Counter[str] = Counter()
    for u in plan.unfilled:
        if u.order in orders:
            unfilled_units[u.order] += u.qty

    o_lon = np.array([o.lon for o in instance.orders])
    o_lat = np.array([o.lat for o in instance.orders])
    n_lon = np.array([n.lon for n in instance.nodes])
    n_lat = np.array([n.lat for n in instance.nodes])
    all_lon = np.concatenate([o_lon, n_lon]) if len(o_lon) + len(n_lon) else np.zeros(1)
    all_lat = np.concatenate([o_lat, n_lat]) if len(o_lat) + len(n_lat) else np.zeros(1)
    lon0, lon1 = float(all_lon.min()), float(all_lon.max())
    lat0, lat1 = float(all_lat.min()), float(all_lat.max())
    pad_lon = max(0.05 * (lon1 - lon0), 0.2)
    pad_lat = max(0.05 * (lat1 - lat0), 0.2)
    aspect = 1.0 / max(math.cos(math.radians((lat0 + lat1) / 2)), 0.2)
    lon0, lon1, lat0, lat1 = lon0 - pad_lon, lon1 + pad_lon, lat0 - pad_lat, lat1 + pad_lat
    # widen the narrow side so that the map fills the figure (shown in degrees, lat stretched)
    width, height = lon1 - lon0, (lat1 - lat0) * aspect
    if width < FIGURE_RATIO * height:
        grow = (FIGURE_RATIO * height - width) / 2
        lon0, lon1 = lon0 - grow, lon1 + grow
    else:
        grow = (width / FIGURE_RATIO - height) / (2 * aspect)
        lat0, lat1 = max(-90.0, lat0 - grow), min(90.0, lat1 + grow)

    fig = Figure(figsize=(11, 9), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("#f7f7f5")
    ax.set_aspect(aspect)
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.grid(True, color="#dddddd", linewidth=0.5, zorder=0)

    segs: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {
        "warehouse": [], "store": []}
    for s in ships:
        n, o = nodes[s.node], orders[s.order]
        segs[n.kind].append(((n.lon, n.lat), (o.lon, o.lat)))
    n_wh = len(segs["warehouse"])
    n_st = len(segs["store"])

    if density:
        # orders as a density (log scale); shipments merged into flows from a node to a cell
        # of the map, the line's width and strength growing with the shipments it carries
        span = max(lon1 - lon0, (lat1 - lat0) * aspect, 1e-6)
        grid = int(min(90, max(30, math.sqrt(len(orders)) * 0.6)))
        ax.hexbin(o_lon, o_lat, gridsize=(grid, max(1, int(grid * (lat1 - lat0) * aspect
                                                            / span))),
                  cmap=LinearSegmentedColormap.from_list("orders", ["#d9d9d9", "#1a1a1a"]),
                  norm=LogNorm(), mincnt=1, linewidths=0, zorder=1, alpha=0.85)
        cell = span / 40.0
        for kind, colour, top_width in (("warehouse", WAREHOUSE, 3.0), ("store", STORE, 2.5)):
            flows = _flows(segs[kind], cell)
            if not flows:
                continue
            counts = np.array([k for _, k in flows], dtype=np.float64)
            w = (counts / max(float(counts.max()), 1.0)) ** 0.5
            rgba = np.array([_rgba(colour, 0.03 + 0.8 * x) for x in w])
            ax.add_collection(LineCollection([f for f, _ in flows], colors=rgba,
                                             linewidths=0.2 + top_width * w,
                                             zorder=2 if kind == "warehouse" else 2.5,
                                             capstyle="round"))
    else:
        ax.scatter(o_lon, o_lat, s=7, c="#404040", linewidths=0, zorder=3, alpha=0.8)
        # faint enough that a few hundred lines over one place still show the places under them
        alpha = float(min(0.6, max(0.08, 200.0 / max(n_wh, 1))))
        if segs["warehouse"]:
            ax.add_collection(LineCollection(segs["warehouse"], colors=WAREHOUSE,
                                             linewidths=0.6, alpha=alpha, zorder=2))
        if segs["store"]:  # short and few: drawn over the warehouses' lines
            ax.add_collection(LineCollection(segs["store"], colors=STORE, linewidths=1.2,
                                             alpha=0.9, zorder=2.5))

    def size(ids: list[str], lo: float, hi: float) -> np.ndarray:
        u = np.array([units.get(i, 0) for i in ids], dtype=np.float64)
        top = max(float(u.max()) if len(u) else 0.0, 1.0)
        return lo + (hi - lo) * np.sqrt(u / top)

    wh = [n for n in instance.nodes if n.kind == "warehouse"]
    st = [n for n in instance.nodes if n.kind == "store"]
    if st:  # the stores that ship stand out; the others stay faint
        idle = [n for n in st if not units.get(n.id)]
        busy = [n for n in st if units.get(n.id)]
        if idle:
            ax.scatter([n.lon for n in idle], [n.lat for n in idle], s=10, marker="^",
                       c=STORE, alpha=0.35, linewidths=0, zorder=4)
        if busy:
            ax.scatter([n.lon for n in busy], [n.lat for n in busy],
                       s=size([n.id for n in busy], 18, 80), marker="^", c=STORE,
                       edgecolors="black", linewidths=0.4, zorder=4)
    if wh:
        ax.scatter([n.lon for n in wh], [n.lat for n in wh],
                   s=size([n.id for n in wh], 30, 260), marker="s", c=WAREHOUSE,
                   edgecolors="black", linewidths=0.8, zorder=5)
    if unfilled_units and density:  # unfilled units summed by cell: circle area
        span = max(lon1 - lon0, (lat1 - lat0) * aspect, 1e-6)
        bub = _bubbles([(orders[i].lon, orders[i].lat, q) for i, q in unfilled_units.items()],
                       span / 60.0)
        q = np.array([b[2] for b in bub], dtype=np.float64)
        ax.scatter([b[0] for b in bub], [b[1] for b in bub], s=6 + 240 * q / max(q.max(), 1.0),
                   facecolors="none", edgecolors=UNFILLED, linewidths=0.9, zorder=6)
    elif unfilled_units:
        uo = [orders[i] for i in unfilled_units]
        ax.scatter([o.lon for o in uo], [o.lat for o in uo], s=28, marker="x", c=UNFILLED,
                   linewidths=1.2, zorder=6)
        if len(uo) <= 12:
            for o in uo:
                ax.annotate(o.id, (o.lon, o.lat), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=UNFILLED, zorder=7)
    if len(instance.nodes) <= 12 and not density:
        for n in instance.nodes:
            ax.annotate(n.id, (n.lon, n.lat), xytext=(5, -10), textcoords="offset points",
                        fontsize=7, color="#333333", zorder=7)

    short = sum(unfilled_units.values())
    cost = "-" if plan.objective is None else f"{plan.objective:,.2f}"
    ax.set_title(f"{plan.instance}: {plan.solver}, {plan.status}, cost {cost}\n"
                 f"{_n(len(ships), 'shipment')} ({n_wh:,} from warehouses, {n_st:,} from "
                 f"stores) to {_n(len({s.order for s in ships}), 'order')}; "
                 f"{_n(short, 'unit')} unfilled in {_n(len(unfilled_units), 'order')}",
                 fontsize=10)
    handles = [Line2D([], [], marker="h" if density else "o", color="none",
                      markerfacecolor="#777777", markersize=7,
                      label="orders (density, log scale)" if density else "order")]
    if wh:
        handles.append(Line2D([], [], marker="s", color="none", markerfacecolor=WAREHOUSE,
                              markeredgecolor="black", markersize=8,
                              label=f"warehouse ({len(wh):,}; size: units shipped)"))
    if st:
        handles.append(Line2D([], [], marker="^", color="none", markerfacecolor=STORE,
                              markeredgecolor="black", markersize=7,
                              label=f"store ({len(st):,}; faint: ships nothing)"))
    if n_wh:
        handles.append(Line2D([], [], color=WAREHOUSE, linewidth=1.5,
                              label="shipments from a warehouse"
                              + (" (width: how many)" if density else "")))
    if n_st:
        handles.append(Line2D([], [], color=STORE, linewidth=1.5,
                              label="shipments from a store"))
    if unfilled_units:
        handles.append(Line2D([], [], marker="o" if density else "x", color="none",
                              markeredgecolor=UNFILLED, markerfacecolor="none", markersize=7,
                              label="unfilled units (area: units nearby)" if density
                              else "order with unfilled units"))
    # below the map, so that it never hides a place
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3,
              fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return density


def _n(k: int, word: str) -> str:
    return f"{k:,} {word}" + ("" if k == 1 else "s")


def _rgba(colour: str, alpha: float) -> tuple[float, float, float, float]:
    c = colour.lstrip("#")
    return (int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, alpha)


def _flows(segs: list[tuple[tuple[float, float], tuple[float, float]]], cell: float
           ) -> list[tuple[tuple[tuple[float, float], tuple[float, float]], int]]:
    """Segments from one node to the orders of one map cell merged into one, ending at their
    mean position, with their count; the fewest first (drawn under the others)."""
    groups: dict[tuple[float, float, int, int], list[float]] = {}
    for (x0, y0), (x1, y1) in segs:
        key = (x0, y0, math.floor(x1 / cell), math.floor(y1 / cell))
        g = groups.setdefault(key, [0.0, 0.0, 0.0])
        g[0] += x1
        g[1] += y1
        g[2] += 1
    out = [(((k[0], k[1]), (g[0] / g[2], g[1] / g[2])), int(g[2])) for k, g in groups.items()]
    out.sort(key=lambda f: f[1])
    return out


def _bubbles(points: list[tuple[float, float, int]], cell: float
             ) -> list[tuple[float, float, int]]:
    """Points summed by map cell: mean position and total."""
    groups: dict[tuple[int, int], list[float]] = {}
    for x, y, q in points:
        g = groups.setdefault((math.floor(x / cell), math.floor(y / cell)), [0.0, 0.0, 0.0, 0])
        g[0] += x * q
        g[1] += y * q
        g[2] += q
    return [(g[0] / g[2], g[1] / g[2], int(g[2])) for g in groups.values()]
