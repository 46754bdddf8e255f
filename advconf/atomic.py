"""Atomic file writes: a killed or failed write never leaves a half-written file or replaces a good one."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from advconf.errors import AdvconfError


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success fsync it and rename it onto ``path``.

    The rename is atomic because both names are in the same directory (same file system). The file
    gets the permissions of any newly created file (0666 less the umask), so a group can share it.
    A write the system refuses (a full disk, a quota, no permission) is an ``AdvconfError`` naming the
    file; the previous file, if any, is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temporary(path)
    except OSError as error:
        raise AdvconfError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        cause = os_error(error) if isinstance(error, Exception) else None  # not on Ctrl-C
        if cause is not None:  # a full disk, a quota: the writer's own error may be a consequence (torch.save's)
            kept = f"; the previous {path.name} is kept" if path.exists() else ""
            raise AdvconfError(f"cannot write {path}: {cause.strerror or cause}{kept}") from None
        raise
    sync_directory(path.parent)


def os_error(error: BaseException | None) -> OSError | None:
    """The OSError that ``error`` is or was raised while handling (torch.save reports a full disk as a
    RuntimeError raised during the OSError), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def create_temporary(path: Path) -> tuple[int, Path]:
    """A new, empty ``.<name>.<random>.tmp`` beside ``path``, opened for writing.

    Not ``tempfile.mkstemp``: it creates files readable by their owner only (0600), whatever the umask.
    """
    return _create_beside(path, lambda tmp: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def create_temporary_directory(path: Path) -> Path:
    """A new, empty directory ``.<name>.<random>.tmp`` beside ``path``, with the permissions ``mkdir``
    gives (0777 less the umask, applied by the kernel).

    Not ``tempfile.mkdtemp``: it makes the directory private (0700), whatever the umask.
    """
    return _create_beside(path, lambda tmp: os.mkdir(tmp, 0o777))[1]


def _create_beside(path: Path, create: Any) -> tuple[Any, Path]:
    """(``create(tmp)``, tmp) for the first free ``.<name>.<random>.tmp`` beside ``path``."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return create(tmp), tmp
        except FileExistsError:
            continue


def sync_directory(directory: Path) -> None:
    """Make a rename durable: fsync the directory entry (not possible on every OS/file system)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
