"""Replacing an engine's policies with a re-read set, whole or not at all, and watching their files.

An engine evaluates against one immutable `PolicySet`, taken once per call.
`Engine.reload` compiles a complete new set from the paths and options the
engine was loaded with and stores it with one attribute assignment (a
reference swap, atomic in CPython): an evaluation running meanwhile uses the
old set throughout or the new one throughout, never some of each.  A set
with any problem raises `PolicyError` before the swap, so the old set stays.

`PolicyWatcher` is the service side: a daemon thread that polls the policy
files (names, sizes, modification times and SHA-256 of the contents) and
reloads when they change.  A failed reload is logged (structlog event
`policy_reload_failed`) and passed to `on_error`; the old set stays in force.
"""

from __future__ import annotations

import hashlib
import os
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .documents import LoadLimits, compile_paths, discover
from .errors import PolicyError, Problem
from .frozen import FrozenDict
from .model import PolicyRef
from .product import CompiledPolicy
from .registry import Registry

DEFAULT_WATCH_INTERVAL = timedelta(seconds=2)
"""How often a watcher looks at the policy files: an edit is in force within about this long."""


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every loaded version of each policy kind, and where to find the one in force: what an evaluation reads.

    Immutable once built: a reload builds another and the engine swaps the reference.
    """

    versions: Mapping[str, tuple[CompiledPolicy, ...]]
    """Each kind's versions in the order they take effect."""
    starts: Mapping[str, tuple[datetime, ...]]
    """Each kind's instants of taking effect, in the same order (for `bisect`)."""
    latest: Mapping[str, tuple[datetime, CompiledPolicy]]
    """The last version of each kind and its start: the one in force at any later instant."""

    @classmethod
    def of(cls, policies: Iterable[CompiledPolicy]) -> PolicySet:
        by_kind: dict[str, list[CompiledPolicy]] = {}
        for policy in policies:
            by_kind.setdefault(policy.ref.kind, []).append(policy)
        versions = {kind: tuple(sorted(found, key=lambda p: p.ref.effective_from)) for kind, found in by_kind.items()}
        return cls(
            versions=FrozenDict(versions),
            # aware datetimes compare exactly, whatever their offsets
            starts=FrozenDict({kind: tuple(p.ref.effective_from for p in found) for kind, found in versions.items()}),
            latest=FrozenDict({kind: (found[-1].ref.effective_from, found[-1]) for kind, found in versions.items()}),
        )

    @property
    def refs(self) -> tuple[PolicyRef, ...]:
        """Every version, by kind and then time."""
        return tuple(p.ref for kind in sorted(self.versions) for p in self.versions[kind])

    def at(self, kind: str, moment: datetime) -> CompiledPolicy | None:
        """The version of `kind` in force at `moment`, or None (none loaded, or none in force yet)."""
        latest = self.latest.get(kind)
        if latest is not None and moment >= latest[0]:
            return latest[1]  # the usual case: the newest version, no search
        versions = self.versions.get(kind)
        if not versions:
            return None
        index = bisect_right(self.starts[kind], moment) - 1
        return versions[index] if index >= 0 else None


Fingerprint = tuple[tuple[str, ...], ...]
"""What a watcher compares between polls: each policy file's path, size, mtime and digest, and discovery problems."""


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Where an engine's policies were read from and with which options: what a reload reads again.

    Relative paths are read again from the current folder, as `load` read them.
    """

    paths: tuple[str | Path, ...]
    limits: LoadLimits
    registry: Registry
    """The products stay those of the load: a reload replaces policies, not code."""

    def load(self) -> PolicySet:
        """The policies compiled again, all of them; `PolicyError` with every problem otherwise."""
        compiled, problems = compile_paths(self.paths, self.limits, self.registry)
        if problems:
            raise PolicyError(problems)
        return PolicySet.of(compiled)

    def fingerprint(self) -> Fingerprint:
        """The state of the policy files, to compare with an earlier one (any difference means: reload).

        The contents are hashed, not only sizes and times: an edit that keeps the
        size within the file system's time resolution (`1.10` to `1.20`) changes
        neither.  A file over the size limit is not read (its load fails anyway).
        """
        sources, problems = discover(self.paths)
        entries: list[tuple[str, ...]] = [("problem", str(problem)) for problem in problems]
        for source in sources:
            entries.append((str(source.path), *_file_state(source.path, self.limits.max_file_bytes)))
        return tuple(entries)


def _file_state(path: Path, limit: int) -> tuple[str, ...]:
    try:
        with path.open("rb") as file:
            status = os.fstat(file.fileno())
            content = file.read(limit + 1) if status.st_size <= limit else b""
    except OSError as error:
        return ("unreadable", str(error.strerror))
    return (str(status.st_size), str(status.st_mtime_ns), hashlib.sha256(content).hexdigest())


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyChange:
    """A policy version a reload added, removed or replaced (matched by kind and the instant it takes effect)."""

    kind: str
    old: PolicyRef | None
    new: PolicyRef | None

    @property
    def edited_in_place(self) -> bool:
        """The same id and version with other contents: decisions tell them apart only by `sha256`."""
        return (
            self.old is not None
            and self.new is not None
            and (self.old.id, self.old.version) == (self.new.id, self.new.version)
            and self.old.sha256 != self.new.sha256
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
            "edited_in_place": self.edited_in_place,
        }

    def __str__(self) -> str:
        return f"{self.kind}: {_named(self.old)} -> {_named(self.new)}"


def _named(ref: PolicyRef | None) -> str:
    return "(none)" if ref is None else f"{ref.id} v{ref.version} ({ref.sha256[:12]})"


@dataclass(frozen=True, kw_only=True, slots=True)
class Reloaded:
    """What a reload put in force: the policy versions it changed, and every version now loaded."""

    changes: tuple[PolicyChange, ...]
    policies: tuple[PolicyRef, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @classmethod
    def between(cls, old: PolicySet, new: PolicySet) -> Reloaded:
        before = {(ref.kind, ref.effective_from): ref for ref in old.refs}
        after = {(ref.kind, ref.effective_from): ref for ref in new.refs}
        changes = [
            PolicyChange(kind=slot[0], old=before.get(slot), new=after.get(slot))
            for slot in sorted(before.keys() | after.keys())
            if before.get(slot) != after.get(slot)
        ]
        return cls(changes=tuple(changes), policies=new.refs)


def not_reloadable() -> PolicyError:
    """The error of `reload` on an engine built from compiled policies rather than loaded from files."""
    return PolicyError(
        [
            Problem(
                file="policies",
                message="this engine was made from compiled policies, not loaded from files: there is nothing"
                " to read again",
                suggestion="load it with `policy_engine.load(paths)`",
            )
        ]
    )


class PolicyWatcher:
    """A daemon thread that reloads an engine when its policy files change; `stop()` ends it.

    Each poll compares the files' fingerprint with the one last acted on; a
    change triggers one reload.  A reload that fails leaves the engine's set
    as it was, is logged and passed to `on_error`, and is not retried until
    the files change again (a half-written file is read again once complete).
    The fingerprint is taken before reading, so an edit made during a reload
    triggers another.
    """

    def __init__(
        self,
        reload: Callable[[], Reloaded],
        source: PolicySource,
        *,
        interval: timedelta = DEFAULT_WATCH_INTERVAL,
        on_reload: Callable[[Reloaded], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"the watch interval must be positive, got {interval}")
        self._reload = reload
        self._source = source
        self._interval = interval
        self._on_reload = on_reload
        self._on_error = on_error
        self._stopping = threading.Event()
        self._polling = threading.Lock()
        self._seen = source.fingerprint()
        """The files as they were when last acted on (the engine's set was loaded from them, or failed to)."""
        self._thread = threading.Thread(target=self._run, name="policy-engine-watch", daemon=True)

    def start(self) -> PolicyWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: timedelta | None = None) -> None:
        """Stop polling and wait for a reload under way to finish (at most `timeout`, when given)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(None if timeout is None else timeout.total_seconds())

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> PolicyWatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def poll(self) -> Reloaded | None:
        """Reload now if the files changed since the last poll: what the reload changed, or None (no change,
        or the reload failed: then reported to the log and `on_error`)."""
        with self._polling:
            now = self._source.fingerprint()
            if now == self._seen:
                return None
            self._seen = now
            try:
                reloaded = self._reload()
            except Exception as error:  # a service's watcher must outlive any failure
                self._report_failure(error)
                return None
        _log().info(
            "policies_reloaded",
            changes=[change.to_dict() for change in reloaded.changes],
            policies=len(reloaded.policies),
        )
        for change in reloaded.changes:
            if change.edited_in_place:
                _log().warning("policy_edited_in_place", **change.to_dict())
        self._call(self._on_reload, reloaded)
        return reloaded

    def _report_failure(self, error: Exception) -> None:
        if isinstance(error, PolicyError):
            _log().error("policy_reload_failed", problems=[str(problem) for problem in error.problems])
        else:
            _log().error("policy_reload_failed", error=repr(error), exc_info=error)
        self._call(self._on_error, error)

    @staticmethod
    def _call(callback: Callable[[Any], None] | None, argument: object) -> None:
        if callback is None:
            return
        try:
            callback(argument)
        except Exception as error:  # a faulty callback must not stop the watching
            _log().error("policy_watch_callback_failed", error=repr(error), exc_info=error)

    def _run(self) -> None:
        seconds = self._interval.total_seconds()
        while not self._stopping.wait(seconds):
            try:
                self.poll()
            except Exception as error:  # reading the folder failed in a way discovery did not word
                _log().error("policy_watch_failed", error=repr(error), exc_info=error)


def _log() -> Any:
    import structlog  # noqa: PLC0415 - only a process that watches its policies pays for importing it

    return structlog.get_logger("policy_engine.reloading")
