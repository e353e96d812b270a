"""Running an engine where it can be stopped: a child process, killed at the deadline.

MIP and LP engines look at their clock only between phases (HiGHS's presolve of a large model,
SCIP's root node, CBC's root LP), so a time limit handed to them is a wish. Each engine call
runs in a forked child process of its own process group, which the caller's process kills
(with every process the engine started, CBC's included) when the deadline plus a small grace
has passed, or when the caller is interrupted (Ctrl-C, SIGTERM turned into an exception by the
CLI, an exception in the calling thread). The child's temporary folder (PuLP's model files)
is removed in every case, and a child whose parent dies kills itself and its group.

What the engine changes in its process (standard output redirected, the garbage collector
held, dynamic-loader flags, thread pools) stays in the child: the caller's process is left as
it was. The engine's output goes to a log file in the temporary folder and is passed on to the
``router.engine`` logger (``router solve --verbose`` shows it).

Forking copies the model without serialising it; the answer comes back pickled through a
pipe. Calls from several threads at once each get their own child. Where ``os.fork`` is not
available the engine runs in-process under its own time limit (no hard stop).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
engine_log = logging.getLogger("router.engine")

T = TypeVar("T")

CAN_FORK = hasattr(os, "fork") and sys.platform.startswith("linux")
_HEADER = struct.Struct("<Q")
MAX_LOG_LINES = 2000  # engine log lines passed on to logging per call


@dataclass(frozen=True)
class Isolated(Generic[T]):
    """What came back from a child: ``value`` when it finished, else ``failure`` says why
    (``killed``: stopped at the deadline; ``error``: the engine raised; ``crashed``: the child
    died without an answer)."""

    value: T | None
    failure: str = ""  # "", "killed", "interrupted", "error", "crashed"
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failure


def run_isolated(target: Callable[..., T], *args: Any, hard_deadline: float | None,
                 label: str = "engine", verbose: bool = False,
                 cancel: threading.Event | None = None) -> Isolated[T]:
    """``target(*args, workdir)`` in a child process, waited for until ``hard_deadline``
    (:func:`time.perf_counter` seconds; ``None``: no limit) or until ``cancel`` is set, then
    killed."""
    t0 = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="router-engine-")
    if not CAN_FORK:
        try:
            return Isolated(target(*args, workdir), seconds=time.perf_counter() - t0)
        except Exception as e:  # an engine failure must not lose the incumbent
            return Isolated(None, "error", f"{type(e).__name__}: {e}", time.perf_counter() - t0)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    log_path = os.path.join(workdir, "engine.log")
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        _child(target, args, workdir, log_path, w, parent)
    os.close(w)
    with contextlib.suppress(OSError):  # (the child does it too; whichever runs first)
        os.setpgid(pid, pid)
    reaped = False
    try:
        data, done = _read_answer(r, hard_deadline, cancel)
        if not done:
            _kill(pid)
        _, status = os.waitpid(pid, 0)
        reaped = True
        seconds = time.perf_counter() - t0
        if not done:
            if cancel is not None and cancel.is_set():
                return Isolated(None, "interrupted", f"{label} stopped: the run was cancelled",
                                seconds)
            return Isolated(None, "killed", f"{label} stopped at the deadline", seconds)
        return _decode(data, status, label, seconds)
    finally:
        if not reaped:  # interrupted (KeyboardInterrupt, SIGTERM) or a failure while waiting
            _kill(pid)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        os.close(r)
        _forward_log(log_path, label, verbose)
        shutil.rmtree(workdir, ignore_errors=True)


def _read_answer(fd: int, hard_deadline: float | None,
                 cancel: threading.Event | None) -> tuple[bytes, bool]:
    """Read the child's answer until end of file, the deadline or a cancel; (bytes, finished)."""
    chunks: list[bytes] = []
    while True:
        if cancel is not None and cancel.is_set():
            return b"".join(chunks), False
        wait = 0.05 if hard_deadline is None else min(0.05, hard_deadline - time.perf_counter())
        if wait <= 0:
            return b"".join(chunks), False
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)


def _kill(pid: int) -> None:
    """Kill the child's whole process group (the engine's own children with it)."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            kill()


def _decode(data: bytes, status: int, label: str, seconds: float) -> Isolated[Any]:
    if len(data) < _HEADER.size:
        why = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        return Isolated(None, "crashed", f"{label} died without an answer ({why})", seconds)
    (n,) = _HEADER.unpack_from(data)
    try:
        kind, value, detail = pickle.loads(data[_HEADER.size:_HEADER.size + n])
    except Exception as e:
        return Isolated(None, "crashed", f"{label} sent an unreadable answer ({e})", seconds)
    if kind == "ok":
        return Isolated(value, seconds=seconds)
    log.warning("%s failed: %s", label, detail)
    return Isolated(None, "error", value, seconds)


def _child(target: Callable[..., Any], args: tuple[Any, ...], workdir: str, log_path: str,
           w: int, parent: int) -> None:
    code = 0
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with(parent)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        tempfile.tempdir = workdir
        os.environ["TMPDIR"] = workdir
        try:
            payload: tuple[str, Any, str] = ("ok", target(*args, workdir), "")
        except BaseException as e:
            payload = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        blob = _HEADER.pack(len(data)) + data
        view = memoryview(blob)
        while view:
            view = view[os.write(w, view):]
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Kill this process's group when the parent dies (kill -9 of the caller)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: this process itself
    def watch() -> None:  # its own children (CBC) are not covered by PDEATHSIG
        while True:
            time.sleep(0.2)
            if os.getppid() != parent:
                with contextlib.suppress(OSError):
                    os.killpg(0, signal.SIGKILL)
                os._exit(71)
    threading.Thread(target=watch, daemon=True).start()


def _forward_log(path: str, label: str, verbose: bool) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    level = logging.INFO if verbose else logging.DEBUG
    if not engine_log.isEnabledFor(level):
        return
    for line in lines[:MAX_LOG_LINES]:
        if line.strip():
            engine_log.log(level, "%s: %s", label, line)
    if len(lines) > MAX_LOG_LINES:
        engine_log.log(level, "%s: ... %d more lines", label, len(lines) - MAX_LOG_LINES)
