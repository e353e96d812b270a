"""PNG plots (matplotlib, Agg backend): the cost-time Pareto view and throughput."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import (
    Cell,
    Context,
    _group_rank,
    aggregate,
    as_good_as_rules,
    rule_cells,
    rule_limits,
)
from benchmarks.suites import RULE_BASELINES, solver_rank

_MARKERS = "osD^v<>pPX*h"


def _style(solvers: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str, str]]:
    import matplotlib

    tab10 = matplotlib.colormaps["tab10"]
    tab20 = matplotlib.colormaps["tab20"]
    colors = [tab10(i) for i in range(10)] + [tab20(2 * i + 1) for i in range(10)]
    out = {}
    for i, (s, k) in enumerate(solvers):
        line = ":" if s in RULE_BASELINES else "--" if k in ("mip", "bound") else "-"
        out[s] = (matplotlib.colors.to_hex(colors[i % len(colors)]),
                  _MARKERS[i % len(_MARKERS)], line)
    return out


def _log_axis(axis: object) -> None:
    import matplotlib.ticker as mt

    axis.set_major_formatter(mt.FuncFormatter(lambda v, _p: f"{v:g}"))  # type: ignore[attr-defined]
    axis.set_minor_formatter(mt.NullFormatter())  # type: ignore[attr-defined]


def pareto(ctx: Context, suite: str, path: Path) -> bool:
    """Extra cost over the best plan against time, one panel per instance group, one line
    per solver through its budgets; the non-dominated points joined in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cells = [c for c in ctx.of(suite) if c.kind != "bound" and not math.isnan(c.budget)]
    groups = sorted({c.group for c in cells}, key=_group_rank)
    if not groups:
        return False
    solvers = sorted({(c.solver, c.kind) for c in cells}, key=lambda t: solver_rank(*t))
    style = _style(solvers)
    ncol = min(3, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.0 * nrow), squeeze=False)
    for ax, g in zip(axes.flat, groups, strict=False):
        pts = []
        for s, _k in solvers:
            by_b: dict[float, list[Cell]] = defaultdict(list)
            for c in cells:
                if c.group == g and c.solver == s:
                    by_b[c.budget].append(c)
            xs, ys = [], []
            for b in sorted(by_b):
                agg = aggregate(by_b[b])
                if agg.ok < agg.n or agg.extra is None or agg.seconds is None:
                    continue
                xs.append(agg.seconds)
                ys.append(max(agg.extra, 0.0))
                pts.append((agg.seconds, max(agg.extra, 0.0)))
            if xs:
                color, marker, line = style[s]
                ax.plot(xs, ys, line, marker=marker, color=color, label=s, ms=5, lw=1.2)
        front = _front(pts)
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.6",
                    lw=3, alpha=0.4, zorder=0)
        n = len({c.instance for c in cells if c.group == g})
        ax.set_title(f"{suite}: {g}" + (f" ({n} instances)" if n > 1 else ""))
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.set_yscale("symlog", linthresh=0.1)
        top = max((p[1] for p in pts), default=0.0)
        ax.set_ylim(0.0, max(1.0, top * 2.0))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.set_xlabel("time per batch (s, median; mean over instances)")
        ax.set_ylabel("extra cost over best plan (%)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=False))
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=False):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="lower center",
               ncol=min(6, len(seen)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(seen) // 6), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _front(pts: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    best = math.inf
    for x, y in sorted(pts):
        if y < best:
            out.append((x, y))
            best = y
    return out


def throughput(ctx: Context, path: Path, suite: str = "saleday") -> bool:
    """Orders per second against batch size, per solver, at each solver's smallest budget
    whose verified plans cost no more than the best rule baseline's (the rules themselves at
    their best budget), so that a plan cut short by a tiny budget does not count as fast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in ctx.of(suite) if c.kind != "bound" and not math.isnan(c.budget)]
    if not cells:
        return False
    solvers = sorted({(c.solver, c.kind) for c in cells}, key=lambda t: solver_rank(*t))
    style = _style(solvers)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    plotted = False
    for s, _k in solvers:
        xs, ys = [], []
        for g in sorted({c.group for c in cells}, key=_group_rank):
            in_group = [c for c in cells if c.group == g]
            limit = rule_limits(in_group)
            mine = [c for c in in_group if c.solver == s]
            if s in RULE_BASELINES:
                best = rule_cells(in_group, s)
                mine = best if len(best) == len({c.instance for c in mine}) else []
            for b in sorted({c.budget for c in mine}):
                at = [c for c in mine if c.budget == b]
                agg = aggregate(at)
                if (agg.ok == agg.n and agg.orders_per_s
                        and (s in RULE_BASELINES or as_good_as_rules(at, limit))):
                    xs.append(statistics_mean([c.n_orders or 0 for c in at]))
                    ys.append(agg.orders_per_s)
                    break
        if xs:
            color, marker, line = style[s]
            ax.plot(xs, ys, line, marker=marker, color=color, label=s, lw=1.2, ms=5)
            plotted = True
    if not plotted:
        plt.close(fig)
        return False
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis)
    _log_axis(ax.yaxis)
    ax.set_xlabel("orders in the batch")
    ax.set_ylabel("orders per second (smallest budget as good as the rules)")
    ax.set_title(f"Throughput ({suite})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def statistics_mean(v: Sequence[float]) -> float:
    return sum(v) / len(v) if v else 0.0


def make_plots(ctx: Context, out_dir: Path) -> list[str]:
    names = []
    for suite in ctx.suites():
        name = f"pareto_{suite}.png"
        if pareto(ctx, suite, out_dir / name):
            names.append(name)
    suite = "saleday" if ctx.of("saleday") else ctx.suites()[0] if ctx.suites() else ""
    if suite and throughput(ctx, out_dir / "throughput.png", suite):
        names.append("throughput.png")
    return names
