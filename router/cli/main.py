"""The command line: a thin layer over the library (SPEC section 5).

Exit codes: 0 success; 1 no plan (infeasible, no solution) or a plan that fails verification;
2 bad input or usage. Bad input never shows a traceback and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from router.errors import InputError, OptionError, RouterError, SolverUnavailable

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors: exit 2 with the usage line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("yaml", "json", "gap"),
                   help="instance format (default: from the extension)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="router", description="Route e-commerce order batches to fulfilment "
                                                "nodes (warehouses and stores).")
    parser.add_argument("--version", action="version", version="router 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("solve", help="route a batch and write its plan")
    p.add_argument("file")
    _add_format(p)
    p.add_argument("--solver", default="auto", help="solver name (see `router solvers`)")
    p.add_argument("--time-limit", type=_seconds, default=None, metavar="S",
                   help="wall-clock seconds for the whole solve, compilation included")
    p.add_argument("--work-limit", type=_count, default=None, metavar="N",
                   help="work units (see `router solvers`): a run stopped by work repeats "
                        "exactly")
    p.add_argument("--seed", type=_count, default=0, help="random seed, >= 0 (default 0)")
    p.add_argument("--mip-gap", type=_gap, default=1e-4,
                   help="relative gap within which a plan counts as optimal (default 1e-4)")
    p.add_argument("--threads", type=_threads, default=1, help="threads an engine may use")
    p.add_argument("--initial", metavar="PLAN", help="a plan file to start from")
    add_solver_options(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log the stages and the engines' output to stderr")
    p.add_argument("-o", "--output", metavar="PLAN",
                   help="plan file, .json (router/plan-v1) or .csv (default: stdout)")

    p = sub.add_parser("validate", help="check an instance file")
    p.add_argument("file")
    _add_format(p)

    p = sub.add_parser("verify", help="check a plan against its instance")
    p.add_argument("file")
    p.add_argument("plan")
    _add_format(p)
    p.add_argument("--all", action="store_true",
                   help="list every problem (default: counts by kind and the first 20)")

    p = sub.add_parser("solvers", help="list the solvers available here")
    p.add_argument("--params", action="store_true",
                   help="also list each solver's parameters and what a work unit counts")
    for extend in _EXTENSIONS:
        extend(sub)
    return parser


_EXTENSIONS: list[Any] = []  # commands that live in their own modules add themselves here


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    if math.isnan(v):
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}")
    return v


def _seconds(text: str) -> float | None:
    v = _number(text, "seconds")
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, not {text}")
    return None if math.isinf(v) else v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, not {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, not {text}")
    return v


def _threads(text: str) -> int:
    v = _count(text)
    if not 1 <= v <= 1024:
        raise argparse.ArgumentTypeError(f"must be in [1, 1024], not {text}")
    return v


def _gap(text: str) -> float:
    v = _number(text, "a gap")
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be a relative gap in [0, 1), not {text}")
    return v


def add_solver_options(p: argparse.ArgumentParser, what: str = "route") -> None:
    """``--param NAME=VALUE`` and ``--ray [ADDRESS]`` (read by :func:`solver_options`)."""
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a solver parameter (see `router solvers --params`); repeatable")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help=f"{what} with the distributed solver on Ray: a local Ray instance, or "
                        "the cluster at ADDRESS (needs router[ray])")


def solver_options(solver: str | None, params: list[str], ray: str | None,
                   default: str) -> tuple[str, dict[str, Any]]:
    """The solver and its options from ``--solver`` (``None``: not given), ``--param`` and
    ``--ray``: ``--ray`` means the distributed solver with ``executor="ray"`` (``auto`` or
    no solver given become ``distributed``; another solver is an error)."""
    options = _solver_params(params)
    if ray is not None:  # the distributed solver, its workers as Ray actors
        if solver not in (None, "auto", "distributed"):
            raise OptionError(f"--ray runs the distributed solver, not {solver!r}")
        solver = "distributed"
        options.update(executor="ray", address=ray)
    return solver or default, options


def _summary(plan: Any) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    gap = plan.gap
    gap_s = "-" if gap is None else f"{100 * gap:.3f}%"
    secs = plan.stats.get("seconds", 0.0)
    term = plan.termination
    why = "" if term is None else f" reason={term.reason}" + (
        f" limit={term.limit}" if term.limit != "none" else "")
    extra = "" if term is None or not term.fallback else f"\n  fallback: {term.fallback}"
    for note in plan.stats.notes:
        extra += f"\n  note: {note}"
    return (f"solver={plan.solver} status={plan.status}{why} source={plan.source or '-'} "
            f"objective={f(plan.objective)} bound={f(plan.lower_bound)} gap={gap_s} "
            f"seconds={secs:.3f} shipments={len(plan.shipments)} "
            f"unfilled_units={sum(u.qty for u in plan.unfilled)}{extra}")


def _solver_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values read as YAML scalars or flow lists (3, 0.5, true, [a, b])."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise OptionError(f"--param wants NAME=VALUE, not {item!r}")
        try:
            out[name.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[name.strip()] = value
    return out


def cmd_solve(args: argparse.Namespace) -> int:
    import router

    if args.output:
        router.plan.plan_format(args.output)  # a bad extension is reported before any work
    args.solver, options = solver_options(args.solver, args.param, args.ray, "auto")
    router.solvers.registry.get(args.solver)  # an unknown solver is reported before loading
    instance = router.load(args.file, format=args.format)
    initial = router.Plan.read(args.initial) if args.initial else None
    plan = router.solve(instance, solver=args.solver, time_limit=args.time_limit,
                        work_limit=args.work_limit, seed=args.seed, mip_gap=args.mip_gap,
                        threads=args.threads, initial=initial, verbose=args.verbose, **options)
    if args.output:
        plan.write(args.output, instance=instance)
    elif sys.stdout.isatty():  # a person at a terminal: the summary, not the JSON
        print(plan)
        print("the plan is not saved: add -o plan.json (or -o plan.csv), or redirect the "
              "output to a file", file=sys.stderr)
    else:
        sys.stdout.write(plan.with_details(instance).to_json() + "\n")
    print(_summary(plan), file=sys.stderr)
    return EXIT_OK if plan.has_plan else EXIT_NO_PLAN


def cmd_validate(args: argparse.Namespace) -> int:
    import router
    from router.instance import GapInstance

    inst = router.load(args.file, format=args.format)
    if isinstance(inst, GapInstance):
        print(f"{args.file}: valid GAP instance: {inst.n_agents} agents, {inst.n_jobs} jobs")
    else:
        n_lines = sum(len(o.lines) for o in inst.orders)
        print(f"{args.file}: valid: {len(inst.orders)} orders, {n_lines} lines, "
              f"{len(inst.nodes)} nodes, {len(inst.skus)} SKUs")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import router

    inst = router.load(args.file, format=args.format)
    plan = router.Plan.read(args.plan)
    report = router.verify(inst, plan, raise_on_error=False)
    print(f"{args.plan}: {report.summary(limit=None if args.all else 20)}")
    return EXIT_OK if report.ok else EXIT_NO_PLAN


def cmd_solvers(args: argparse.Namespace) -> int:
    from router.solvers.registry import registry

    for name, info in sorted(registry().items()):
        why = info.available()
        state = "available" if why is None else f"unavailable ({why})"
        print(f"{name:16s} {info.kind:10s} {state:12s} {info.description}")
        if args.params:
            if info.work_unit:
                print(f"{'':16s} work unit: {info.work_unit}")
            for pname, ptype, default, doc in info.params.describe():
                print(f"{'':16s} --param {pname}=... ({ptype}, default {default!r}) {doc}")
    return EXIT_OK


COMMANDS = {"solve": cmd_solve, "validate": cmd_validate, "verify": cmd_verify,
            "solvers": cmd_solvers}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every cleanup runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors, --help, --version
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    if getattr(args, "verbose", False):
        _log_to_stderr()
    previous: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM unwind the call: engines' processes are killed, temporary
        # files removed, and no plan is written (SIGINT even when started in the background,
        # where a shell leaves it ignored)
        previous = [(signal.SIGTERM, signal.signal(signal.SIGTERM, _on_sigterm)),
                    (signal.SIGINT, signal.signal(signal.SIGINT, signal.default_int_handler))]
    try:
        return int(COMMANDS[args.command](args))
    except InputError as e:
        print(e.format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SolverUnavailable, OptionError) as e:
        print(f"router: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RouterError as e:
        print(f"router: {e}", file=sys.stderr)
        return EXIT_NO_PLAN
    except BrokenPipeError:  # e.g. `router solve f.yaml | head`
        return EXIT_OK
    except _Terminated:
        print("router: terminated; nothing written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("router: interrupted; nothing written", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        for signum, handler in previous:
            signal.signal(signum, handler)


def _log_to_stderr() -> None:
    """``--verbose``: the library's log records (stages, engines' output) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("router")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _load_extensions() -> None:
    """Commands defined in other modules (generate, export, bench, explain, show) register
    themselves."""
    import importlib

    for mod in ("router.cli.generate", "router.cli.export", "router.cli.bench",
                "router.cli.explain", "router.cli.show", "router.cli.network",
                "router.cli.replay"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def register_command(add_parser: Any, name: str, func: Any) -> None:
    """Add a subcommand: ``add_parser(subparsers)`` builds it, ``func(args)`` runs it."""
    if name not in COMMANDS:
        _EXTENSIONS.append(add_parser)
        COMMANDS[name] = func



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
