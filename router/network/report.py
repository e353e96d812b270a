"""The replay's report: Markdown tables and PNG plots (matplotlib, when installed).

Plots: the arrival rate and the routed rate over the day (per minute); batch latency over the
day against the window; cost per order by window length (from a window sweep).
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router.network.day import PEAK_2020
from router.network.replay import ReplayResult


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    cpu = cpu_name()
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _ms(s: float) -> str:
    return f"{1e3 * s:,.2f}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _rate(r: float) -> str:
    """A rate with three significant digits at least."""
    if not math.isfinite(r):
        return "∞"
    return f"{r:,.0f}" if abs(r) >= 100 else f"{r:.3g}"


def _share(m: dict[str, Any], part: str) -> str:
    spo = m["seconds_per_order"]
    total = sum(spo[k] for k in ("compile", "solve", "verify", "commit"))
    return f"{100 * spo[part] / total:.0f}%" if total > 0 else "-"


def cores_for(rate: float, peak: float = PEAK_2020) -> float:
    return math.inf if rate <= 0 else peak / rate


def policy_row(name: str, m: dict[str, Any], ref: float | None, bound: float | None) -> str:
    cost = m["cost"]["total"]
    vs = "" if ref is None or ref == 0 else f"{100 * (cost / ref - 1):+.2f}%"
    gap = "" if bound is None or bound <= 0 else f"{100 * (cost / bound - 1):.2f}%"
    u = m["units"]
    return (f"| {name} | {m['window']:g} s | {cost:,.0f} | {m['cost_per_order']:.3f} | {vs} | "
            f"{gap} | {m['packages_per_order']:.4f} | {_pct(m['split_rate'])} | "
            f"{u['unfilled_first']:,} | {u['cancelled']:,} | {_pct(m['store_share'])} | "
            f"{_ms(m['latency_p99'])} |")


def markdown(main: ReplayResult, *, day_path: str = "", network_path: str = "",
             baselines: dict[str, dict[str, Any]] | None = None,
             sweep: Sequence[dict[str, Any]] = (), hindsight: dict[str, Any] | None = None,
             headrooms: Sequence[dict[str, Any]] = (), plots: dict[str, str] | None = None,
             command: str = "") -> str:
    m = main.metrics
    o = main.options
    u = m["units"]
    c = m["cost"]
    out = [f"# Sale-day replay: {main.network}, {main.day_orders:,} orders", ""]
    if command:
        out += ["```", command, "```", ""]
    out += [
        f"- Day: `{day_path}`: {main.day_orders:,} orders over {_hms(main.duration)} "
        f"(mean {_rate(m['arrival_mean'])} orders/s; busiest minute "
        f"{_rate(m['arrival_peak_minute'])} orders/s; busiest second {m['arrival_peak_second']:,} orders); "
        f"{m['cancels']:,} customer cancellations, {m['declines']:,} store declines.",
        f"- Network: `{network_path}`; solver `{o.solver}`"
        + "".join(f" `{k}={v}`" for k, v in o.solver_options.items())
        + f", window {o.window:g} s, time limit "
        f"{'none' if o.time_limit is None else f'{o.time_limit:g} s'} per batch, seed {o.seed}"
        f", pace {'as fast as possible' if o.pace == 0 else f'{o.pace:g}x real time'}.",
        *([f"- Executor: `{x['executor']}`, {x['workers']} workers, started {x['starts']} "
            f"time(s) for the {x['batches']:,} batches routed on it"
            + (f"; {x['replaced']} worker(s) replaced" if x['replaced'] else "") + "."]
          if (x := m.get("executor")) else []),
        f"- Machine: {machine()}. The replay took {main.wall_seconds:,.1f} s wall, "
        f"{main.cpu_seconds:,.1f} s CPU (routing {m['cpu_seconds']:,.1f} s of it).",
        "",
        "## Latency and throughput (one core)",
        "",
        "Batch latency is route + commit + declines of one batch: compile, solve, verify and "
        "the ledger's commit, in CPU seconds of the process (wall seconds beside, on a shared "
        "machine).",
        "",
        "| | p50 | p99 | max |",
        "| --- | ---: | ---: | ---: |",
        f"| batch latency, CPU ms | {_ms(m['latency_p50'])} | {_ms(m['latency_p99'])} | "
        f"{_ms(m['latency_max'])} |",
        f"| batch latency, wall ms | {_ms(m['latency_wall_p50'])} | "
        f"{_ms(m['latency_wall_p99'])} | {_ms(m['latency_wall_max'])} |",
        f"| order delay (arrival to routed), s | {m['delay_p50']:.3f} | {m['delay_p99']:.3f} | "
        f"{m['delay_max']:.3f} |",
        "",
        f"{m['batches']:,} batches of {m['batch_orders_mean']:,.1f} orders on average "
        f"(largest {m['batch_orders_max']:,}, backorders offered again included). "
        f"Routing took {1e6 * m['seconds_per_order']['cpu']:,.1f} µs CPU per order; of its "
        f"wall time, compile {_share(m, 'compile')}, solve {_share(m, 'solve')}, verify "
        f"{_share(m, 'verify')}, commit {_share(m, 'commit')}: a throughput of "
        f"{_rate(m['throughput'])} orders per CPU second at this day's batch sizes, against "
        f"an arrival rate of {_rate(m['arrival_mean'])}/s on average and "
        f"{_rate(m['arrival_peak_minute'])}/s in the busiest minute. "
        + ("The router kept up: p99 latency within the window." if m["kept_up"] and o.window
           else "" if o.window == 0 else "The router fell behind: p99 latency above the window."),
        "",
    ]
    if headrooms:
        out += [
            "### Headroom",
            "",
            "The highest arrival rate one core sustains: the largest batch (the opening "
            "spike's orders, against the opening stock) routed and committed within the "
            "window at p99 (max of repeated runs), divided by the window; for window 0, one "
            "order at a time with the core always busy. Cores for the 583,000 orders/s peak "
            "of 11/11 2020 at that rate:",
            "",
            "| window | sustained orders/s (one core) | largest batch | its p99 latency | "
            "cores for 583,000 orders/s |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for h in headrooms:
            ge = "≥ " if h["capped"] else ""
            out.append(f"| {h['window']:g} s | {ge}{_rate(h['rate'])} | {ge}{h['batch']:,} | "
                       f"{_ms(h['latency_p99'])} ms | "
                       f"{'≤ ' if h['capped'] else ''}{cores_for(h['rate']):,.1f} |")
        out.append("")
    out += [
        "## Cost and service",
        "",
        f"- Cost of the day: {c['total']:,.2f} = packages {c['package']:,.2f} + units "
        f"{c['unit']:,.2f} + cancelled units at their penalty {c['cancelled']:,.2f} + units "
        f"still waiting at the end at their penalty {c['waiting']:,.2f}; "
        f"{m['cost_per_order']:.4f} per order.",
        f"- {m['packages']:,} packages for {m['orders_shipped']:,} orders shipped: "
        f"{m['packages_per_order']:.4f} packages per order, {m['extra_shipments']:,} beyond one "
        f"per order, split rate {_pct(m['split_rate'])}; stores shipped "
        f"{_pct(m['store_share'])} of the units.",
        f"- Units: {u['arrived']:,} ordered = {u['shipped']:,} shipped + {u['waiting']:,} "
        f"waiting + {u['cancelled']:,} cancelled (wait limit or no package allowed) + "
        f"{u['dropped']:,} dropped by customers' cancellations + "
        f"{u['dropped_before_routing']:,} cancelled before routing: "
        f"**{'balanced' if u['balanced'] else 'NOT BALANCED'}**.",
        f"- Left unfilled when first routed: {u['unfilled_first']:,} units; backordered "
        f"(waited at least once): {u['backordered']:,}; store declines: {m['declines']:,} "
        f"({m['declined_units']:,} units re-routed); walk-in sales beyond the stock count: "
        f"{m['walkin_short']:,} units.",
        "",
    ]
    bound = hindsight.get("bound") if hindsight else None
    if baselines or hindsight:
        out += [
            "## Against the baselines (the same day)",
            "",
            "| policy | window | cost | per order | vs this run | above hindsight bound | "
            "packages/order | split | unfilled first | cancelled | store share | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            policy_row(f"this run (`{o.solver}`)", m, None, bound),
        ]
        ref = c["total"]
        for name, bm in (baselines or {}).items():
            out.append(policy_row(name, bm, ref, bound))
        if hindsight:
            hb = hindsight.get("bound")
            rp = hindsight.get("relaxed_plan_cost")
            out += ["", f"Hindsight bound (the whole day as one batch, relaxed: all the day's "
                        f"stock and every window's capacity at once, no declines; "
                        f"`{hindsight['solver']}`, {hindsight['seconds']:,.0f} s): "
                        + ("none proven" if hb is None else
                           f"{hb:,.2f} ({hb / max(main.day_orders, 1):.4f} per order)") + "."]
            if rp:
                out[-1] += (f" The plan the same run found for that relaxed batch costs "
                            f"{rp:,.2f}: the relaxed day's optimum lies between the two, and "
                            f"this run is {100 * (c['total'] / rp - 1):+.2f}% against that "
                            f"plan (a reference, not a bound).")
        out.append("")
    if sweep:
        real = next((s for s in sweep if s["window"] == 0), None)
        sweep = sorted(sweep, key=lambda s: (s["solver"] != (real or s)["solver"], s["solver"],
                                             s["window"]))
        out += [
            "## Window sweep",
            "",
            "What batching removes: extra shipments are packages beyond one per order shipped; "
            "'removed' is the share of real-time routing's (window 0, "
            f"`{real['solver'] if real else '-'}`) extra shipments that the window and solver "
            "remove (re-evaluating in batches removed 40-50% of real-time decisions' extra "
            "shipments in Xu, Allgor and Graves, 2009).",
            "",
            "| solver | window | cost per order | vs real time | packages/order | extra shipments "
            "| removed | unfilled first | cancelled | split | p99 latency ms | batches |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in sweep:
            vs = removed = ""
            if real is not None:
                vs = f"{100 * (s['cost']['total'] / real['cost']['total'] - 1):+.2f}%"
                if real["extra_shipments"] > 0:
                    removed = _pct(1 - s["extra_shipments"] / real["extra_shipments"])
            budget = "" if s.get("work_limit") is None else f", {s['work_limit']} work"
            out.append(f"| `{s['solver']}`{budget} | {s['window']:g} s | "
                       f"{s['cost_per_order']:.4f} | {vs} | "
                       f"{s['packages_per_order']:.4f} | {s['extra_shipments']:,} | {removed} | "
                       f"{s['units']['unfilled_first']:,} | {s['units']['cancelled']:,} | "
                       f"{_pct(s['split_rate'])} | {_ms(s['latency_p99'])} | {s['batches']:,} |")
        out.append("")
    if plots:
        out += ["## Plots", ""]
        for title, path in plots.items():
            out.append(f"![{title}]({path})")
            out.append("")
    return "\n".join(out)


def plot(main: ReplayResult, sweep: Sequence[dict[str, Any]], directory: str | Path,
         stem: str = "replay") -> dict[str, str]:
    """Write the plots as PNG files; returns title -> file name (relative to
    ``directory``). Raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    hours = main.duration / 3600.0
    n_min = int(math.ceil(main.duration / 60.0)) + 1

    fig, ax = plt.subplots(figsize=(9, 4))
    arr = np.bincount((main.order_arrival // 60).astype(np.int64), minlength=n_min) / 60.0
    routed = main.order_routed[np.isfinite(main.order_routed)]
    rou = np.bincount((routed // 60).astype(np.int64), minlength=n_min)[:n_min] / 60.0
    x = np.arange(n_min) / 60.0
    ax.plot(x, arr, label="arrival rate", lw=1.2)
    ax.plot(x, rou, label="routed rate", lw=0.8, alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlim(0, hours)
    ax.set_xlabel("hour of the day")
    ax.set_ylabel("orders/s (per minute)")
    ax.set_title(f"{main.network}: arrivals and routing, window {main.options.window:g} s")
    ax.legend()
    fig.tight_layout()
    name = f"{stem}_rates.png"
    fig.savefig(d / name, dpi=110)
    plt.close(fig)
    out["arrival and routed rate over the day"] = name

    fig, ax = plt.subplots(figsize=(9, 4))
    b = main.batches
    ax.scatter(b["close"] / 3600.0, 1e3 * b["cpu"], s=2, alpha=0.4, label="batch latency (CPU)")
    if main.options.window > 0:
        ax.axhline(1e3 * main.options.window, color="r", lw=1, label="window")
    ax.set_yscale("log")
    ax.set_xlim(0, hours)
    ax.set_xlabel("hour of the day")
    ax.set_ylabel("ms")
    ax.set_title(f"batch latency over the day (solver {main.options.solver})")
    ax.legend()
    fig.tight_layout()
    name = f"{stem}_latency.png"
    fig.savefig(d / name, dpi=110)
    plt.close(fig)
    out["batch latency over the day"] = name

    if sweep:
        fig, ax = plt.subplots(figsize=(6, 4))
        for solver in sorted({s["solver"] for s in sweep}):
            runs = sorted((s for s in sweep if s["solver"] == solver), key=lambda s: s["window"])
            w = [max(s["window"], 0.1) for s in runs]
            ax.plot(w, [s["cost_per_order"] for s in runs], "o-", label=solver)
            for s, wx in zip(runs, w, strict=True):
                ax.annotate(f"{s['window']:g} s", (wx, s["cost_per_order"]),
                            textcoords="offset points", xytext=(4, 4))
        ax.legend()
        ax.set_xscale("log")
        ax.set_xlabel("window, s (0 drawn at 0.1)")
        ax.set_ylabel("cost per order")
        ax.set_title("cost per order by window length")
        fig.tight_layout()
        name = f"{stem}_windows.png"
        fig.savefig(d / name, dpi=110)
        plt.close(fig)
        out["cost per order by window length"] = name
    return out
