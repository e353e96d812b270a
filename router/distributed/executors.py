"""Executors: where the shard workers run. Each has ``workers`` workers; worker ``w`` holds the
shards ``w, w + workers, ...`` (:class:`~router.distributed.worker.ShardWorker` objects built
once from the shard's arrays), so a shard's oracle is built once per worker.

- :class:`ProcessExecutor` (``"process"``, the default): one process per worker, forked from
  the caller (``concurrent.futures`` with the fork start method), no set-up: the shards'
  arrays reach the workers by the fork itself (copy-on-write, nothing serialised); prices and
  answers travel as pickled numpy arrays.
- :class:`RayExecutor` (``"ray"``, the ``router[ray]`` extra): one Ray actor per worker on a
  local Ray instance (started with ``num_cpus`` = workers unless Ray is running already) or
  on a cluster (``address``); each shard's arrays are put in the object store once
  (``ray.put``), prices per call. Ray is imported here only, when this executor starts.
- :class:`InlineExecutor` (``"inline"``): the workers in the caller's process, one after the
  other (for debugging, and where a worker has failed for good).

A call is one method on every shard (:meth:`Executor.call`), its answers in shard order. A
worker that dies (killed, out of memory) is replaced and its calls sent again, up to
``retries`` times; after that the coordinator runs the shard's call itself, so the answer is
the same. ``stats`` counts the bytes of numpy arrays sent and received per call, the calls
retried and the CPU seconds used by each worker.

An executor lives for one batch. An :class:`ExecutorPool` keeps the workers across batches
(a day's replay, an order service): its processes are forked, or Ray started and its actors
created, once, when the pool starts; each batch routed while the pool is active (``with
pool:``, in that thread) gets an executor on the pool's workers (:meth:`ExecutorPool.executor`)
that sends the batch's shards to them (pickled to a process on its first call, put in Ray's
object store) and drops them when the batch is done. The answers are the same as on an
executor of the batch's own. The pool's workers are stopped when it closes (also on an error
or Ctrl-C).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.distributed.sharding import nbytes
from router.distributed.worker import KILL_ENV, ShardWorker
from router.errors import OptionError

log = logging.getLogger(__name__)

EXECUTORS = ("process", "ray", "inline")
RAY_MISSING = ("executor 'ray' needs Ray, which is not installed: "
               "pip install 'router[ray]' (or pip install ray)")


@dataclass
class ExecutorStats:
    setup_bytes: int = 0  # shards' arrays copied to the workers (0 when forked)
    # per call: method, bytes sent and received, wall seconds, CPU seconds per shard
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0  # calls that failed (worker died)
    retries: int = 0  # calls sent again to a new worker
    inline: int = 0  # calls the coordinator ran itself after the retries
    worker_cpu: list[float] = field(default_factory=list)  # CPU seconds per worker
    start_seconds: float = 0.0


class Executor:
    """Runs one method on every shard at once (see the module docstring)."""

    name = "executor"

    def __init__(self, shards: list[dict[str, np.ndarray]], workers: int,
                 retries: int = 1) -> None:
        self.shards = shards
        self.workers = max(1, min(int(workers), len(shards) or 1))
        self.retries = max(0, int(retries))
        self.stats = ExecutorStats(worker_cpu=[0.0] * self.workers)
        self._inline: dict[int, ShardWorker] = {}

    def owner(self, shard: int) -> int:
        return shard % self.workers

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        """``method(*args[s])`` on every shard ``s``; the answers in shard order. Every
        answer ends with the CPU seconds of the call, counted to its worker."""
        t = time.perf_counter()
        out = self._call(method, args)
        sent = sum(nbytes(a) for a in args)
        got = sum(nbytes(r) for r in out)
        cpu = [float(r[-1]) for r in out]
        self.stats.calls.append({"method": method, "sent_bytes": sent, "received_bytes": got,
                                 "seconds": round(time.perf_counter() - t, 4),
                                 "cpu_seconds": [round(c, 4) for c in cpu]})
        for s, c in enumerate(cpu):
            self.stats.worker_cpu[self.owner(s)] += c
        return out

    def _call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        raise NotImplementedError

    def run_inline(self, shard: int, method: str, args: tuple[Any, ...]) -> Any:
        """The call in the coordinator's own process (a worker lost for good)."""
        w = self._inline.get(shard)
        if w is None:
            w = self._inline[shard] = ShardWorker(self.shards[shard], remote=False)
        return getattr(w, method)(*args)


class InlineExecutor(Executor):
    name = "inline"

    def _call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        return [self.run_inline(s, method, a) for s, a in enumerate(args)]


# ---------------------------------------------------------------------------------------
# local processes

_TOKENS = itertools.count()
_SHARDS: dict[int, list[dict[str, np.ndarray]]] = {}  # token -> shards (inherited by fork)
_WORKERS: dict[tuple[int, int], ShardWorker] = {}  # in a worker process: (token, shard)
_LOCK = threading.Lock()


def _process_call(token: int, shard: int, method: str, args: tuple[Any, ...]) -> Any:
    w = _WORKERS.get((token, shard))
    if w is None:
        w = _WORKERS[(token, shard)] = ShardWorker(_SHARDS[token][shard])
    return getattr(w, method)(*args)


_SERVED: dict[str, Any] = {"calls": 0, "batches": set()}  # in a pool's worker process


def _pooled_call(token: int, shard: int, arrays: dict[str, np.ndarray] | None, method: str,
                 args: tuple[Any, ...]) -> Any:
    """A call on a pool's worker: the shard's arrays come with its first call there."""
    w = _WORKERS.get((token, shard))
    if w is None:
        if arrays is None:
            raise RuntimeError(f"shard {shard} of batch {token} was never sent to this worker")
        w = _WORKERS[(token, shard)] = ShardWorker(arrays)
    _SERVED["calls"] += 1
    _SERVED["batches"].add(token)
    return getattr(w, method)(*args)


def _pooled_drop(token: int) -> None:
    for key in [k for k in _WORKERS if k[0] == token]:
        del _WORKERS[key]


def _pooled_served() -> tuple[int, int, int]:
    return os.getpid(), int(_SERVED["calls"]), len(_SERVED["batches"])


def _pool_process_init() -> None:
    # Ctrl-C reaches the whole process group; the caller stops the pool's workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _fork_pool(initializer: Any = None) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                  initializer=initializer)


def _check_fork() -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        raise OptionError("executor 'process' needs the fork start method (Linux, macOS); "
                          "use executor 'inline' or 'ray' here")


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, shards: list[dict[str, np.ndarray]], workers: int,
                 retries: int = 1, pool: ProcessPool | None = None) -> None:
        super().__init__(shards, workers, retries)
        _check_fork()
        self.token = next(_TOKENS)
        self.pool = pool
        self.pools: list[cf.ProcessPoolExecutor | None] = [None] * self.workers

    def start(self) -> None:
        if self.pool is not None:  # the pool's processes; the shards go with the first calls
            self.pools = self.pool.procs
            return
        with _LOCK:
            _SHARDS[self.token] = self.shards
        for w in range(self.workers):
            self.pools[w] = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return _fork_pool()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.drop(self.token)
            self.pools = [None] * self.workers
            return
        for pool in self.pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.pools = [None] * self.workers
        with _LOCK:
            _SHARDS.pop(self.token, None)

    def _submit(self, s: int, method: str, args: tuple[Any, ...]) -> cf.Future[Any]:
        w = self.owner(s)
        proc = self.pools[w]
        assert proc is not None
        if self.pool is None:
            return proc.submit(_process_call, self.token, s, method, args)
        key = (self.token, s)
        loaded = self.pool.loaded[w]
        arrays = None if key in loaded else self.shards[s]
        f = proc.submit(_pooled_call, self.token, s, arrays, method, args)
        if arrays is not None:  # one process per pool: its calls run in the order sent
            loaded.add(key)
            self.stats.setup_bytes += nbytes(arrays)
        return f

    def _replace(self, w: int) -> None:
        if self.pool is not None:
            self.pool.replace(w)
            return
        pool = self.pools[w]
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self.pools[w] = self._new_pool()

    def _call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        n = len(args)
        out: list[Any] = [None] * n
        todo = list(range(n))
        attempt = 0
        while todo:
            futures: dict[int, cf.Future[Any] | None] = {}
            for s in todo:
                try:
                    futures[s] = self._submit(s, method, args[s])
                except BrokenProcessPool:
                    futures[s] = None
            failed = []
            for s in todo:
                f = futures[s]
                try:
                    if f is None:
                        raise BrokenProcessPool("the worker is gone")
                    out[s] = f.result()
                except BrokenProcessPool:
                    failed.append(s)
            if not failed:
                break
            self.stats.failures += len(failed)
            log.warning("distributed: %d call(s) of %s lost with their worker (attempt %d)",
                        len(failed), method, attempt + 1)
            for w in sorted({self.owner(s) for s in failed}):
                self._replace(w)
            attempt += 1
            if attempt > self.retries:
                for s in failed:
                    self.stats.inline += 1
                    out[s] = self.run_inline(s, method, args[s])
                break
            self.stats.retries += len(failed)
            todo = failed
        return out


# ---------------------------------------------------------------------------------------
# Ray


def import_ray() -> Any:
    """The ``ray`` module, or an :class:`OptionError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise OptionError(RAY_MISSING) from None
    return ray


class _ShardActor:
    """A Ray actor running the shards of one worker; each call names its shard's arrays in
    the object store (by reference: they are fetched once, without a copy, when the actor
    first meets the shard, also after Ray restarted it)."""

    def __init__(self) -> None:
        self.workers: dict[tuple[int, int], ShardWorker] = {}
        self.calls = 0
        self.batches: set[int] = set()

    def call(self, token: int, shard: int, ref: list[Any], method: str,
             args: tuple[Any, ...]) -> Any:
        w = self.workers.get((token, shard))
        if w is None:
            import ray

            w = self.workers[(token, shard)] = ShardWorker(ray.get(ref[0]))
        self.calls += 1
        self.batches.add(token)
        return getattr(w, method)(*args)

    def drop(self, token: int) -> None:
        for key in [k for k in self.workers if k[0] == token]:
            del self.workers[key]

    def served(self) -> tuple[int, int, int]:
        return os.getpid(), self.calls, len(self.batches)

    def pid(self) -> int:
        return os.getpid()


def _ray_init(ray: Any, address: str, workers: int) -> bool:
    """Ray started here unless it runs already; True when this call started it."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    return True


def _ray_actors(ray: Any, workers: int, retries: int) -> list[Any]:
    options: dict[str, Any] = {"num_cpus": 1, "max_restarts": retries,
                               "max_task_retries": retries}
    kill = os.environ.get(KILL_ENV)
    if kill:  # the fault-injection point reaches the actors' processes too
        options["runtime_env"] = {"env_vars": {KILL_ENV: kill}}
    actor = ray.remote(**options)(_ShardActor)
    return [actor.remote() for _ in range(workers)]


def _ray_restarts(ray: Any, actors: list[Any], pids: list[int]) -> tuple[int, list[int]]:
    """Actors Ray restarted since ``pids`` (their process died; their calls were retried)."""
    try:
        now = ray.get([a.pid.remote() for a in actors], timeout=30)
    except Exception:
        return 0, pids
    return sum(int(a != b) for a, b in zip(now, pids, strict=True)), list(now)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, shards: list[dict[str, np.ndarray]], workers: int,
                 retries: int = 1, address: str = "", pool: RayPool | None = None) -> None:
        super().__init__(shards, workers, retries)
        self.ray = import_ray() if pool is None else pool.ray
        self.address = address
        self.pool = pool
        self.token = next(_TOKENS)
        self.owned = False
        self.actors: list[Any] = []
        self._refs: list[Any] = []
        self._pids: list[int] = []

    def start(self) -> None:
        ray = self.ray
        if self.pool is None:
            self.owned = _ray_init(ray, self.address, self.workers)
        refs = [ray.put(a) for a in self.shards]
        self.stats.setup_bytes = sum(nbytes(a) for a in self.shards)
        self._refs = refs
        if self.pool is not None:  # the pool's actors
            self.actors = self.pool.actors[:self.workers]
            self._pids = self.pool.pids[:self.workers]
            return
        self.actors = _ray_actors(ray, self.workers, self.retries)
        self._pids = ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        ray = self.ray
        restarted, pids = _ray_restarts(ray, self.actors, self._pids)
        self.stats.retries += restarted
        if self.pool is not None:  # the batch's shards dropped; the actors stay
            self.pool.pids[:len(pids)] = pids
            with contextlib.suppress(Exception):
                ray.get([a.drop.remote(self.token) for a in self.actors], timeout=30)
            self.actors = []
            self._refs = []
            return
        for a in self.actors:
            with contextlib.suppress(Exception):  # an actor already gone
                ray.kill(a)
        self.actors = []
        self._refs = []
        if self.owned:
            ray.shutdown()
            self.owned = False

    def _call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        ray = self.ray
        # a reference nested in a list travels as a reference (the arrays stay in the store)
        futures = [self.actors[self.owner(s)].call.remote(self.token, s, [self._refs[s]],
                                                          method, a)
                   for s, a in enumerate(args)]
        out: list[Any] = []
        for s, f in enumerate(futures):
            try:
                out.append(ray.get(f))
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as e:
                log.warning("distributed: shard %d lost on Ray (%s); run here", s,
                            type(e).__name__)
                self.stats.failures += 1
                self.stats.inline += 1
                out.append(self.run_inline(s, method, args[s]))
        return out


def make_executor(name: str, shards: list[dict[str, np.ndarray]], workers: int,
                  retries: int = 1, address: str = "") -> Executor:
    if name == "process":
        return ProcessExecutor(shards, workers, retries)
    if name == "ray":
        return RayExecutor(shards, workers, retries, address)
    if name == "inline":
        return InlineExecutor(shards, workers, retries)
    raise OptionError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")


# ---------------------------------------------------------------------------------------
# pools: workers kept across batches

_ACTIVE: contextvars.ContextVar[ExecutorPool | None] = contextvars.ContextVar(
    "router_executor_pool", default=None)


def active_pool() -> ExecutorPool | None:
    """The pool the ``distributed`` solver runs on in this thread (``with pool:``), if any."""
    return _ACTIVE.get()


class ExecutorPool:
    """Workers kept across batches (see the module docstring): started once by
    :meth:`start` (or ``with pool:``, which also makes it the active pool of this thread),
    stopped by :meth:`close`. ``starts`` counts the starts of its workers, ``batches`` the
    batches routed on them; :meth:`summary` what every worker served."""

    name = "pool"

    def __init__(self, workers: int, retries: int = 1, address: str = "") -> None:
        self.workers = max(1, int(workers))
        self.retries = max(0, int(retries))
        self.address = address
        self.starts = 0
        self.batches = 0
        self.replaced = 0  # workers replaced after they died
        self.served: list[dict[str, int]] = []  # per worker, when the pool closed
        self._started = False
        self._tokens: list[contextvars.Token[ExecutorPool | None]] = []

    def fits(self, executor: str, workers: int, address: str) -> bool:
        """Can a batch with these solver options run on this pool's workers?"""
        return self._started and executor == self.name and int(workers) == self.workers \
            and address == self.address

    def executor(self, shards: list[dict[str, np.ndarray]], retries: int | None = None
                 ) -> Executor:
        """An executor for one batch's shards on this pool's workers."""
        if not self._started:
            raise RuntimeError("the executor pool is not started")
        self.batches += 1
        return self._executor(shards, self.retries if retries is None else retries)

    def _executor(self, shards: list[dict[str, np.ndarray]], retries: int) -> Executor:
        return InlineExecutor(shards, self.workers, retries)

    def start(self) -> None:
        if self._started:
            return
        self._start()
        self._started = True
        self.starts += 1
        log.info("distributed: %s pool started, %d workers", self.name, self.workers)

    def close(self, abort: bool = False) -> None:
        """Stop the workers (``abort``: at once, without waiting for calls under way)."""
        if not self._started:
            return
        self._started = False
        self._close(abort)

    def _start(self) -> None:
        pass

    def _close(self, abort: bool) -> None:
        pass

    def __enter__(self) -> ExecutorPool:
        self.start()
        self._tokens.append(_ACTIVE.set(self))
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if self._tokens:
                _ACTIVE.reset(self._tokens.pop())
        finally:
            self.close(abort=exc_type is not None)

    def summary(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers, "starts": self.starts,
                "batches": self.batches, "replaced": self.replaced,
                "served": list(self.served)}


class InlinePool(ExecutorPool):
    name = "inline"


class ProcessPool(ExecutorPool):
    """One forked process per worker for the pool's life; a batch's shards are pickled to
    their worker with its first call there and dropped after the batch."""

    name = "process"

    def __init__(self, workers: int, retries: int = 1, address: str = "") -> None:
        super().__init__(workers, retries, address)
        _check_fork()
        self.procs: list[cf.ProcessPoolExecutor | None] = [None] * self.workers
        self.loaded: list[set[tuple[int, int]]] = [set() for _ in range(self.workers)]

    def _start(self) -> None:
        for w in range(self.workers):
            self.procs[w] = _fork_pool(_pool_process_init)
            self.loaded[w].clear()

    def _executor(self, shards: list[dict[str, np.ndarray]], retries: int) -> Executor:
        return ProcessExecutor(shards, self.workers, retries, pool=self)

    def replace(self, w: int) -> None:
        proc = self.procs[w]
        if proc is not None:
            proc.shutdown(wait=False, cancel_futures=True)
        self.procs[w] = _fork_pool(_pool_process_init)
        self.loaded[w].clear()
        self.replaced += 1

    def drop(self, token: int) -> None:
        """Forget a batch's shards in the workers that hold them."""
        for w, proc in enumerate(self.procs):
            keys = {k for k in self.loaded[w] if k[0] == token}
            if not keys or proc is None:
                continue
            self.loaded[w] -= keys
            try:
                proc.submit(_pooled_drop, token).result()
            except BrokenProcessPool:
                self.replace(w)

    def _close(self, abort: bool) -> None:
        served = []
        for proc in self.procs:
            if proc is None or abort:
                continue
            with contextlib.suppress(Exception):
                pid, calls, batches = proc.submit(_pooled_served).result(timeout=30)
                served.append({"pid": pid, "calls": calls, "batches": batches})
        self.served = served
        for proc in self.procs:
            if proc is None:
                continue
            if abort:  # calls under way are not waited for
                for child in list(getattr(proc, "_processes", {}).values()):
                    with contextlib.suppress(Exception):
                        child.terminate()
            proc.shutdown(wait=True, cancel_futures=True)
        self.procs = [None] * self.workers
        self.loaded = [set() for _ in range(self.workers)]


class RayPool(ExecutorPool):
    """One Ray actor per worker for the pool's life, on a local Ray instance started once
    (``ray.init(num_cpus=workers)``, stopped when the pool closes) or on the cluster at
    ``address``, or on the Ray instance the caller has started (kept); a batch's shards are
    put in the object store and dropped by the actors after the batch."""

    name = "ray"

    def __init__(self, workers: int, retries: int = 1, address: str = "") -> None:
        super().__init__(workers, retries, address)
        self.ray = import_ray()
        self.owned = False
        self.actors: list[Any] = []
        self.pids: list[int] = []

    def _start(self) -> None:
        ray = self.ray
        self.owned = _ray_init(ray, self.address, self.workers)
        try:
            self.actors = _ray_actors(ray, self.workers, self.retries)
            self.pids = list(ray.get([a.pid.remote() for a in self.actors]))
        except BaseException:
            self._close(abort=True)
            raise

    def _executor(self, shards: list[dict[str, np.ndarray]], retries: int) -> Executor:
        return RayExecutor(shards, self.workers, retries, self.address, pool=self)

    def _close(self, abort: bool) -> None:
        ray = self.ray
        if not abort:
            restarted, self.pids = _ray_restarts(ray, self.actors, self.pids)
            self.replaced += restarted
            with contextlib.suppress(Exception):
                self.served = [{"pid": p, "calls": c, "batches": b} for p, c, b in ray.get(
                    [a.served.remote() for a in self.actors], timeout=30)]
        for a in self.actors:
            with contextlib.suppress(Exception):  # an actor already gone
                ray.kill(a)
        self.actors = []
        if self.owned:
            ray.shutdown()
            self.owned = False


def make_pool(name: str, workers: int, retries: int = 1, address: str = "") -> ExecutorPool:
    """An :class:`ExecutorPool` of executor ``name`` (not started)."""
    if name == "process":
        return ProcessPool(workers, retries, address)
    if name == "ray":
        return RayPool(workers, retries, address)
    if name == "inline":
        return InlinePool(workers, retries, address)
    raise OptionError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
