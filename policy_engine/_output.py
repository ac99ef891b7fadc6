"""Output files that appear whole or not at all: written beside the target, renamed over it at the end.

An interrupted or failed run never leaves a half-written file under the
final name: the data goes to a hidden temporary file in the same folder
(same file system, so the rename is atomic), which `commit()` flushes,
syncs and renames over the target, and `abort()` removes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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


__all__ = ["AtomicOutput"]
