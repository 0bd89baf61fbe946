"""One run per folder: a lock file held for the whole run, and the clean-up of what a killed run left.

:func:`run_lock` creates ``<folder>/run.lock`` exclusively (``O_CREAT | O_EXCL``) with the pid, host and start
time of the process. A second run on the same folder gets a :class:`RunLockError` naming the holder; a lock
whose process is dead (same host) is taken over with a warning. The lock is re-entrant within a process
(the experiment runner holds it around training, evaluation and ``result.json``; the trainer's loop takes
it again), and only the main process of a multi-process launch (``WORLD_SIZE`` > 1 and ``RANK`` 0) takes it: a
``RANK`` left in the environment without a launcher (``WORLD_SIZE`` unset or 1) does not skip it.

When a lock is taken, the temporary files of atomic writes (``.<name>.*.tmp``, see
:func:`adrpo_nb.utils.paths.atomic_write_bytes`) older than the lock are removed: no writer can hold them.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["LOCK_NAME", "RunLockError", "locks_output_dir", "remove_stale_tmp_files", "run_lock"]

T = TypeVar("T")

LOCK_NAME = "run.lock"
_HELD: dict[str, int] = {}  # folder -> depth, locks this process holds
_UNREADABLE_GRACE_S = 30.0  # a lock still being written by its creator (pid not yet in it)


class RunLockError(RuntimeError):
    """Another run holds this run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _read(lock: Path) -> dict | None:
    try:
        info = json.loads(lock.read_text())
        return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _is_stale(lock: Path, info: dict | None) -> bool:
    if info is None:  # empty or half-written: stale once its creator had time to write it
        try:
            return time.time() - lock.stat().st_mtime > _UNREADABLE_GRACE_S
        except FileNotFoundError:
            return True
    return info.get("host") == socket.gethostname() and not _alive(info["pid"])


def _acquire(folder: Path) -> Path:
    lock = folder / LOCK_NAME
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = _read(lock)
            if not _is_stale(lock, info):
                holder = (f"process {info['pid']} on {info.get('host')} since {info.get('started')}" if info
                          else "a process that is writing it now")  # fmt: skip
                raise RunLockError(
                    f"{folder} is in use by another run ({holder}): two runs in one folder would overwrite each "
                    f"other's checkpoint and result. Wait for it, use another output folder, or delete {lock} if "
                    "that run is gone."
                ) from None
            warnings.warn(f"taking over the stale lock {lock} of a run that is gone ({info})", stacklevel=3)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}, fh)  # fmt: skip
        return lock
    raise RunLockError(f"could not take the lock {lock}: other processes keep taking it")


def remove_stale_tmp_files(folder: str | os.PathLike, older_than: float) -> list[Path]:
    """Delete the atomic-write temporaries ``.*.tmp`` directly in ``folder`` last modified before ``older_than``
    (a ``time.time()`` value); returns what was removed."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        try:
            if path.is_file() and path.stat().st_mtime < older_than:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def _other_process_of_a_launch() -> bool:
    """Whether this is a non-main process of a multi-process launch (``torchrun``, ``accelerate launch``: they set
    ``WORLD_SIZE`` > 1 and ``RANK``); a stray ``RANK`` alone is not a launch."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 1
    return world > 1 and os.environ.get("RANK", "0") != "0"


@contextmanager
def run_lock(folder: str | os.PathLike | None) -> Iterator[None]:
    """Hold ``folder``'s run lock for the ``with`` block (nothing for ``None``, or on a non-main process).

    Raises:
        RunLockError: another live process holds it.
    """
    if folder is None or _other_process_of_a_launch():
        yield
        return
    folder = Path(folder).resolve()
    key = str(folder)
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = _acquire(folder)
    _HELD[key] = 1
    try:
        remove_stale_tmp_files(folder, lock.stat().st_mtime)
        yield
    finally:
        _HELD.pop(key, None)
        lock.unlink(missing_ok=True)


def locks_output_dir(run: Callable[..., T]) -> Callable[..., T]:
    """Decorate ``run(config, ...)`` so that it holds ``config.output_dir``'s run lock from the check for a finished
    result to the writing of ``result.json`` (every experiment's ``run_rl``)."""

    @functools.wraps(run)
    def locked(config: Any, *args: Any, **kwargs: Any) -> T:
        with run_lock(config.output_dir):
            return run(config, *args, **kwargs)

    return locked
