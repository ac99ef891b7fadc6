"""Output files that appear whole or not at all: written beside the target, renamed over it at the end.

An interrupted or failed run never leaves a half-written file under the
final name: the data goes to a hidden temporary file in the same folder
(same file system, so the rename is atomic), which `commit()` flushes,
syncs and renames over the target, and `abort()` removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO


class AtomicOutput:
    """A binary file written under a temporary name and renamed to `path` by `commit()`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        folder = self.path.parent
        while True:  # O_EXCL: never reuse a name another run holds; 0o666 lets the umask decide, as open() does
            temp = folder / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
            try:
                descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            break
        self.temp_path = temp
        self._file: IO[bytes] | None = os.fdopen(descriptor, "wb", buffering=1 << 20)

    @property
    def stream(self) -> IO[bytes]:
        """The open temporary file, for a writer that takes a file object (pyarrow's Parquet writer)."""
        if self._file is None:
            raise ValueError(f"{self.path}: the output is already committed or aborted")
        return self._file

    def write(self, data: bytes | memoryview) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: the output is already committed or aborted")
        self._file.write(data)

    def commit(self) -> None:
        """Flush, sync and rename the temporary file to the target (replacing any file there)."""
        if self._file is None:
            raise ValueError(f"{self.path}: the output is already committed or aborted")
        file, self._file = self._file, None
        try:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            os.replace(self.temp_path, self.path)
        except BaseException:
            file.close()
            self._remove()
            raise

    def abort(self) -> None:
        """Close and remove the temporary file; the target is left as it was.  Safe to call twice."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, _error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        """Commit when the block ends normally, abort when it raises."""
        if kind is None:
            if self._file is not None:
                self.commit()
        else:
            self.abort()


class AtomicFolder:
    """A folder filled under a temporary name beside `path` and renamed to `path` by `commit()`.

    For output written as several files (the part files of partitioned Parquet, possibly by other
    processes): they go into `temp_path`, and `commit()` puts the whole folder in place.  An
    earlier folder at `path` is moved aside first and removed after, so `path` never holds a mix
    of two runs; a file (not a folder) at `path` is refused.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(errno.EEXIST, "a file is in the way of the output folder", str(self.path))
        while True:
            temp = self.path.parent / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
            try:
                temp.mkdir()
            except FileExistsError:
                continue
            break
        self.temp_path = temp
        self._open = True

    def commit(self) -> None:
        """Sync the folder and rename it to the target, replacing an earlier folder there."""
        if not self._open:
            raise ValueError(f"{self.path}: the output is already committed or aborted")
        self._open = False
        try:
            _sync(self.temp_path)
            old = None
            if self.path.exists():
                old = self.temp_path.with_suffix(".old")
                os.replace(self.path, old)
            os.replace(self.temp_path, self.path)
            _sync(self.path.parent)
        except BaseException:
            self._remove()
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the temporary folder; the target is left as it was.  Safe to call twice."""
        self._open = False
        self._remove()

    def _remove(self) -> None:
        shutil.rmtree(self.temp_path, ignore_errors=True)


def _sync(folder: Path) -> None:
    """fsync a folder, so that the names in it (a rename) survive a crash; not every platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


__all__ = ["AtomicFolder", "AtomicOutput"]
