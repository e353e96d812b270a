"""What the benchmark runs: instances, solvers and time budgets, grouped in suites and profiles.

A *suite* is a list of instances (each with its published bounds where known) and a rule for
which solvers and budgets apply to each. A *profile* (``full`` or ``quick``) fixes the budgets,
repeats and instance selection of every suite; command-line options override them.

Suites:

- ``smoke``: every solver on small cases (the hand-made batches with their worked optima, one
  small GAP, the generated ``xs`` batch when the generator is installed), one budget.
- ``gap``: the 90 GAP instances of the shared library, with the bounds of ``bounds_min.tsv``.
- ``saleday``: generated sale-day batches, presets ``xs`` to ``xl`` (``xl`` only for heuristics
  and ``auto`` by default: a MIP model of 200,000 orders does not build within a useful
  budget), one or several generator seeds per preset (``seeds``; the report then gives the
  mean and the worst over the seeds of each preset).
- ``gaplarge``: the GAP instances of types C, D and E: the 18 of ``instances/gap`` (n = 100,
  200) and the 27 larger ones of ``instances/gap/large`` (n = 400, 900, 1,600), with their
  published bounds.

Profiles: ``full`` and ``quick`` (every suite), ``seeds`` (the sale-day suite on ten seeds per
preset at one budget per preset, for the portfolio against every MIP backend) and
``gaplarge`` (types C, D, E at 10 s).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import output
from router.instance import GapInstance, Instance
from router.solvers.registry import SolverInfo, registry

SUITES = ("smoke", "gap", "saleday", "gaplarge")
PRESETS = ("xs", "s", "m", "l", "xl")
RULE_BASELINES = ("nearest", "fewest-splits")

REPO = Path(__file__).resolve().parent.parent


def find_gap_dir() -> Path:
    """The GAP library: ``$ROUTER_GAP_DIR``, else the copy shipped in ``instances/gap``."""
    env = os.environ.get("ROUTER_GAP_DIR")
    return Path(env) if env else REPO / "instances" / "gap"


GAP_DIR = find_gap_dir()
GAP_LARGE_DIR = GAP_DIR / "large"
HAND_DIR = REPO / "instances" / "hand"

# Optima worked out by hand (instances/README.md).
HAND_OPTIMA = {"split": 11.0, "store": 30.5, "express": 23.0, "safety": 15.0,
               "unfillable": 105.5, "capacity": 22.5}

# OR-Library gap1..gap12: agents x jobs of each file (instances c<m><n>_<k>).
GAP_FILES = {"c0515": "gap1", "c0520": "gap2", "c0525": "gap3", "c0530": "gap4",
             "c0824": "gap5", "c0832": "gap6", "c0840": "gap7", "c0848": "gap8",
             "c1030": "gap9", "c1040": "gap10", "c1050": "gap11", "c1060": "gap12"}


@dataclass(frozen=True)
class InstanceSpec:
    """One benchmark instance: where it comes from and what is known about its optimum."""

    suite: str
    name: str
    group: str  # reporting group: "hand", "gap1-12", "A".."E", or the preset
    source: str  # "file:PATH", "gap:PATH" or "preset:NAME:SEED"
    known_lower: float | None = None  # published lower bound on the optimum
    known_upper: float | None = None  # published best plan (= optimum where equal)
    budgets: tuple[float, ...] = ()
    kinds: frozenset[str] | None = None  # solver kinds allowed here (None: every kind)
    size_hint: int = 0  # orders (for ordering and estimates; exact once loaded)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"

    def load(self) -> Instance | GapInstance:
        kind, _, rest = self.source.partition(":")
        if kind == "gap":
            import router

            return router.load(rest, format="gap")
        if kind == "file":
            import router

            return router.load(rest)
        if kind == "preset":
            preset, _, seed = rest.partition(":")
            return generate(preset, int(seed))
        raise ValueError(f"unknown instance source {self.source!r}")


def generator_available() -> bool:
    try:
        import router.generate  # noqa: F401
    except ImportError:
        return False
    return True


def generate(preset: str, seed: int) -> Instance:
    """A sale-day batch from the generator (``router.generate``)."""
    from router.generate import generate as gen

    out: Any = gen(preset=preset, seed=seed)
    if isinstance(out, Instance):
        return out
    if isinstance(out, dict):
        return Instance.from_dict(out, f"<generate {preset} seed {seed}>")
    raise TypeError(f"router.generate returned {type(out).__name__}, not an Instance")


def gap_bounds(gap_dir: Path = GAP_DIR) -> dict[str, tuple[float, float]]:
    path = gap_dir / "bounds_min.tsv"
    out: dict[str, tuple[float, float]] = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = (float(parts[1]), float(parts[2]))
    return out


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds as ``1,2,5`` or ranges ``1-10`` (inclusive), mixed: ``1-3,7``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep:
            a, b = int(lo), int(hi)
            if b < a:
                raise ValueError(f"empty seed range {part!r}")
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    if any(v < 0 for v in out):
        raise ValueError("seeds must be >= 0")
    return tuple(dict.fromkeys(out))


def gap_group(name: str) -> str:
    """``gap1-12`` for the OR-Library subproblems, else the type letter A..E."""
    if name[:5] in GAP_FILES and "_" in name:
        return "gap1-12"
    return name[0].upper()


def gap_instances(suite: str = "gap", gap_dir: Path = GAP_DIR,
                  names: Iterable[str] | None = None) -> list[InstanceSpec]:
    bounds = gap_bounds(gap_dir)
    chosen = sorted(bounds) if names is None else list(names)
    specs = []
    for name in chosen:
        lo, hi = bounds[name]
        path = gap_dir / "instances" / name
        if not path.exists():  # the larger instances: gzip-compressed, in large/
            path = gap_dir / f"{name}.gz"
        jobs = _gap_jobs(path)
        specs.append(InstanceSpec(suite, name, gap_group(name), f"gap:{path}", lo, hi,
                                  size_hint=jobs))
    return sorted(specs, key=lambda s: (_GROUP_ORDER.get(s.group, 9), s.size_hint, s.name))


def _gap_jobs(path: Path) -> int:
    """Jobs of a GAP file (its second number), gzip-compressed or not."""
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt") as f:
            head = f.read(64)
    else:
        head = path.read_text()[:64]
    return int(head.split(maxsplit=2)[1])


def gap_large_instances(suite: str = "gaplarge") -> list[InstanceSpec]:
    """Types C, D and E: those of ``instances/gap`` and the larger ones of ``large/``."""
    small = [s for s in gap_instances(suite) if s.group in ("C", "D", "E")]
    large = gap_instances(suite, GAP_LARGE_DIR) if (GAP_LARGE_DIR / "bounds_min.tsv").is_file() \
        else []
    return sorted(small + large, key=lambda s: (_GROUP_ORDER.get(s.group, 9), s.size_hint,
                                                s.name))


_GROUP_ORDER = {"hand": 0, "gap1-12": 1, "A": 2, "B": 3, "C": 4, "D": 5, "E": 6,
                **{p: 10 + i for i, p in enumerate(PRESETS)}}
PRESET_ORDERS = {"xs": 50, "s": 500, "m": 2_000, "l": 20_000, "xl": 200_000}


def hand_instances(suite: str = "smoke") -> list[InstanceSpec]:
    return [InstanceSpec(suite, f"hand-{name}", "hand", f"file:{HAND_DIR / (name + '.yaml')}",
                         opt, opt, size_hint=3)
            for name, opt in HAND_OPTIMA.items() if (HAND_DIR / f"{name}.yaml").exists()]


REFERENCE = output.RESULTS / "best_known.json"
"""Best verified plan and best proven bound per generated batch (``preset-seed``), from long
reference runs: ``python -m benchmarks.heuristics_speed reference --preset P --seed N``."""


def preset_references(path: Path = REFERENCE) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else {}


def preset_instances(suite: str, presets: Sequence[str], seeds: Sequence[int]
                     ) -> list[InstanceSpec]:
    refs = preset_references()

    def known(p: str, seed: int, field: str) -> float | None:
        v = refs.get(f"{p}-{seed}", {}).get(field)
        return None if v is None else float(v)

    return [InstanceSpec(suite, f"{p}-s{seed}", p, f"preset:{p}:{seed}",
                         known(p, seed, "lower_bound"), known(p, seed, "objective"),
                         size_hint=PRESET_ORDERS.get(p, 0))
            for p in presets for seed in seeds]


# ---------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class SuiteConfig:
    """Budgets, repeats and instances of one suite."""

    budgets: tuple[float, ...]
    repeats: int = 1
    long_budgets: tuple[float, ...] = ()  # extra budgets for the instances matching long_for
    long_for: tuple[str, ...] = ()  # glob patterns on instance names
    instances: tuple[str, ...] = ("*",)  # glob patterns on instance names
    presets: tuple[str, ...] = ()  # saleday
    seeds: tuple[int, ...] = (1,)  # saleday
    xl_kinds: tuple[str, ...] = ("heuristic", "portfolio")  # solver kinds run on xl
    xl_budgets: tuple[float, ...] = ()  # budgets on xl (default: the suite's)
    xl_seeds: tuple[int, ...] = ()  # seeds of xl (default: the suite's)
    # budgets per preset (saleday; each overrides the suite's budgets for that preset)
    preset_budgets: tuple[tuple[str, tuple[float, ...]], ...] = ()


PROFILES: dict[str, dict[str, SuiteConfig]] = {
    "full": {
        "smoke": SuiteConfig(budgets=(1.0,)),
        # 1 s on all 90; 10 s more on the 100-job instances of types A-E.
        "gap": SuiteConfig(budgets=(1.0,), long_budgets=(10.0,),
                           long_for=("[abcde][0-9][0-9]100",)),
        # xl: compiling 200,000 orders alone takes seconds, so budgets of 10 and 30 s.
        "saleday": SuiteConfig(budgets=(0.1, 1.0, 10.0), repeats=3,
                               presets=("xs", "s", "m", "l", "xl"), xl_budgets=(10.0, 30.0)),
    },
    "quick": {
        "smoke": SuiteConfig(budgets=(1.0,)),
        "gap": SuiteConfig(budgets=(1.0,), instances=("c*_1", "a05100", "c05100")),
        "saleday": SuiteConfig(budgets=(0.1, 1.0), repeats=2, presets=("xs", "s", "m")),
    },
    # the portfolio against every MIP backend at the same budget, ten seeds per preset: xs, s
    # and m at 1 s, l at 10 s, xl (heuristics and auto) at 30 s on three seeds
    "seeds": {
        "saleday": SuiteConfig(budgets=(1.0,), presets=("xs", "s", "m", "l", "xl"),
                               seeds=tuple(range(1, 11)), xl_seeds=(1, 2, 3),
                               preset_budgets=(("l", (10.0,)), ("xl", (30.0,)))),
    },
    "gaplarge": {"gaplarge": SuiteConfig(budgets=(10.0,))},
}
# a suite run under a profile that does not name it
DEFAULT_CONFIGS = {"gaplarge": SuiteConfig(budgets=(10.0,)),
                   "saleday": PROFILES["full"]["saleday"], "gap": PROFILES["full"]["gap"],
                   "smoke": PROFILES["full"]["smoke"]}


def suite_instances(suite: str, cfg: SuiteConfig) -> list[InstanceSpec]:
    """The instances of ``suite`` under ``cfg``, each with its budgets and allowed kinds."""
    specs: list[InstanceSpec]
    if suite == "smoke":
        specs = hand_instances("smoke")
        small_gap = [n for n in ("c0515_1", "a05100") if (GAP_DIR / "instances" / n).exists()]
        if small_gap:
            specs += gap_instances("smoke", names=small_gap)
        if generator_available():
            specs += preset_instances("smoke", ["xs"], [1])
    elif suite == "gap":
        if not (GAP_DIR / "bounds_min.tsv").is_file():
            raise RuntimeError(f"the gap suite needs the GAP library: no {GAP_DIR}/bounds_min.tsv "
                               "(set ROUTER_GAP_DIR, or restore instances/gap of the checkout)")
        specs = gap_instances("gap")
    elif suite == "saleday":
        if not generator_available():
            raise RuntimeError("the saleday suite needs the generator (router.generate)")
        presets = cfg.presets or PRESETS
        specs = []
        for preset in presets:
            seeds = cfg.xl_seeds if preset == "xl" and cfg.xl_seeds else cfg.seeds
            specs += preset_instances("saleday", [preset], seeds)
    elif suite == "gaplarge":
        if not (GAP_DIR / "bounds_min.tsv").is_file():
            raise RuntimeError(f"the gaplarge suite needs the GAP library: no "
                               f"{GAP_DIR}/bounds_min.tsv")
        specs = gap_large_instances("gaplarge")
    else:
        raise ValueError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    specs = [s for s in specs if _matches(s.name, cfg.instances)]
    out = []
    per_preset = dict(cfg.preset_budgets)
    for s in specs:
        budgets = cfg.budgets
        kinds = None
        if _matches(s.name, cfg.long_for):
            budgets = budgets + cfg.long_budgets
        if suite == "saleday" and s.group in per_preset:
            budgets = per_preset[s.group]
        if s.group == "xl":
            kinds = frozenset(cfg.xl_kinds)
            budgets = cfg.xl_budgets or budgets
        out.append(replace(s, budgets=tuple(sorted(set(budgets))), kinds=kinds))
    return out


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


# ---------------------------------------------------------------------------------------------
# Solvers


@dataclass(frozen=True)
class SolverSel:
    """Which registered solvers take part: names (globs) to include and exclude."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # empty: every kind
    skipped: dict[str, str] = field(default_factory=dict)

    def select(self) -> list[SolverInfo]:
        """Available registered solvers that match, in a stable order (rules, heuristics,
        auto, MIP backends, bounds)."""
        chosen = []
        for name, info in registry().items():
            if not _matches(name, self.include) or _matches(name, self.exclude):
                continue
            if self.kinds and info.kind not in self.kinds:
                continue
            why = info.available()
            if why is not None:
                self.skipped[name] = why
                continue
            chosen.append(info)
        return sorted(chosen, key=solver_sort_key)


def solver_sort_key(info: SolverInfo) -> tuple[int, str]:
    return solver_rank(info.name, info.kind)


def solver_rank(name: str, kind: str) -> tuple[int, str]:
    """Rules first, then heuristics, auto (the portfolio), MIP backends and bounds."""
    if name in RULE_BASELINES:
        rank = 0
    elif kind in ("heuristic", "portfolio"):
        rank = 2 if name == "auto" or kind == "portfolio" else 1
    elif kind == "mip":
        rank = 3
    else:
        rank = 4
    return rank, name


def kind_label(name: str, kind: str) -> str:
    if name in RULE_BASELINES:
        return "rule"
    return kind


def finite(x: Any) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
