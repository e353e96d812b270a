"""Writing files atomically: a reader (or a crash, Ctrl-C or SIGTERM) sees the old file or
the whole new one, never a part, and no temporary file is left behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from router.errors import InputError


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, what: str = "") -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename
    (``what`` names the content in an error message: "cannot write the plan: ...")."""
    verb = f"cannot write {what}".rstrip()
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise InputError([("", f"{verb}: {e.strerror or e}")], str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # keep the permissions a plain write would give
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise InputError([("", f"{verb}: {e.strerror or e}")], str(path)) from None
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str, what: str = "") -> None:
    write_bytes_atomic(path, text.encode("utf-8"), what)
