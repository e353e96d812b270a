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
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import logging
import multiprocessing
import os
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


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, shards: list[dict[str, np.ndarray]], workers: int,
                 retries: int = 1) -> None:
        super().__init__(shards, workers, retries)
        if "fork" not in multiprocessing.get_all_start_methods():
            raise OptionError("executor 'process' needs the fork start method (Linux, macOS); "
                              "use executor 'inline' or 'ray' here")
        self.token = next(_TOKENS)
        self.pools: list[cf.ProcessPoolExecutor | None] = [None] * self.workers

    def start(self) -> None:
        with _LOCK:
            _SHARDS[self.token] = self.shards
        for w in range(self.workers):
            self.pools[w] = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=1,
                                      mp_context=multiprocessing.get_context("fork"))

    def close(self) -> None:
        for pool in self.pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.pools = [None] * self.workers
        with _LOCK:
            _SHARDS.pop(self.token, None)

    def _call(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        n = len(args)
        out: list[Any] = [None] * n
        todo = list(range(n))
        attempt = 0
        while todo:
            futures: dict[int, cf.Future[Any] | None] = {}
            for s in todo:
                pool = self.pools[self.owner(s)]
                assert pool is not None
                try:
                    futures[s] = pool.submit(_process_call, self.token, s, method, args[s])
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
                pool = self.pools[w]
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                self.pools[w] = self._new_pool()
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
        self.workers: dict[int, ShardWorker] = {}

    def call(self, shard: int, ref: list[Any], method: str, args: tuple[Any, ...]) -> Any:
        w = self.workers.get(shard)
        if w is None:
            import ray

            w = self.workers[shard] = ShardWorker(ray.get(ref[0]))
        return getattr(w, method)(*args)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, shards: list[dict[str, np.ndarray]], workers: int,
                 retries: int = 1, address: str = "") -> None:
        super().__init__(shards, workers, retries)
        self.ray = import_ray()
        self.address = address
        self.owned = False
        self.actors: list[Any] = []
        self._refs: list[Any] = []
        self._pids: list[int] = []

    def start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
            self.owned = True
        refs = [ray.put(a) for a in self.shards]
        self.stats.setup_bytes = sum(nbytes(a) for a in self.shards)
        options: dict[str, Any] = {"num_cpus": 1, "max_restarts": self.retries,
                                   "max_task_retries": self.retries}
        kill = os.environ.get(KILL_ENV)
        if kill:  # the fault-injection point reaches the actors' processes too
            options["runtime_env"] = {"env_vars": {KILL_ENV: kill}}
        actor = ray.remote(**options)(_ShardActor)
        self.actors = [actor.remote() for _ in range(self.workers)]
        self._refs = refs
        self._pids = ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        ray = self.ray
        try:  # actors Ray restarted after their process died (their calls were retried)
            pids = ray.get([a.pid.remote() for a in self.actors], timeout=30)
            self.stats.retries += sum(int(a != b) for a, b in zip(pids, self._pids,
                                                                   strict=True))
        except Exception:
            pass
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
        futures = [self.actors[self.owner(s)].call.remote(s, [self._refs[s]], method, a)
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
