"""`Engine.watch`: a service's thread that reloads the policies when their files change, and survives bad edits.

Most tests poll by hand (`PolicyWatcher.poll`) on a watcher whose own thread
waits an hour between looks, so that nothing depends on timing; one test lets
the thread find the change itself.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import policy_engine
from policy_engine import PolicyError, Reloaded

from .conftest import AS_OF, POLICIES, example

MARGIN = "margin-trading.yaml"
COLLATERAL = "collateral.yaml"
ACCOUNT = example("collateral-margin-btc.json")
HOUR = timedelta(hours=1)
CALL_LEVEL_A, CALL_LEVEL_B = "margin_call: 1.16\n", "margin_call: 1.25\n"
"""Cross-classic 5x: the account (margin level 1.2) is `ok` under A and `margin_call` under B; same size."""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for name in (MARGIN, COLLATERAL):
        shutil.copy(POLICIES / name, folder / name)
    return folder


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / MARGIN
    path.write_text(path.read_text().replace(old, new, 1))


def test_poll_reloads_only_when_the_files_change(folder: Path) -> None:
    """No change, no reload; an edit is put in force by the next poll and reported to `on_reload` and the log."""
    engine = policy_engine.load(folder)
    reported: list[Reloaded] = []
    with engine.watch(HOUR, on_reload=reported.append) as watcher, capture_logs() as logs:
        assert watcher.poll() is None
        _edit(folder, CALL_LEVEL_A, CALL_LEVEL_B)
        reloaded = watcher.poll()
        assert watcher.poll() is None
    assert reloaded is not None
    assert reported == [reloaded]
    assert [str(change) for change in reloaded.changes] == [
        f"margin-trading: spot-margin v1 ({change.old.sha256[:12]}) -> spot-margin v1 ({change.new.sha256[:12]})"
        for change in reloaded.changes
        if change.old is not None and change.new is not None
    ]
    assert engine.evaluate(ACCOUNT, AS_OF).outcome["status"] == "margin_call"
    assert [(log["event"], log["log_level"]) for log in logs] == [
        ("policies_reloaded", "info"),
        ("policy_edited_in_place", "warning"),
    ]
    assert logs[0]["changes"] == [change.to_dict() for change in reloaded.changes]
    assert logs[1]["edited_in_place"] is True


def test_an_edit_that_keeps_size_and_time_is_seen(folder: Path) -> None:
    """The files' contents are compared, not only their sizes and times: `1.16` -> `1.25` with the old mtime."""
    engine = policy_engine.load(folder)
    path = folder / MARGIN
    before = os.stat(path)
    with engine.watch(HOUR) as watcher:
        _edit(folder, CALL_LEVEL_A, CALL_LEVEL_B)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(path).st_size == before.st_size
        assert watcher.poll() is not None
    assert engine.evaluate(ACCOUNT, AS_OF).outcome["status"] == "margin_call"


def test_a_failed_reload_is_reported_once_and_keeps_the_old_set(folder: Path) -> None:
    """A broken edit leaves the engine as it was, reaches `on_error` and the log once (not at every poll), and
    the fixed file is put in force by the next poll."""
    engine = policy_engine.load(folder)
    policies = engine.policies
    errors: list[Exception] = []
    with engine.watch(HOUR, on_error=errors.append) as watcher, capture_logs() as logs:
        _edit(folder, "margin_call: 1.16\n        liquidation: 1.1\n", "margin_call: 1.16\n        liquidation: 1.2\n")
        assert watcher.poll() is None
        assert watcher.poll() is None
        assert engine.policies == policies
        assert engine.evaluate(ACCOUNT, AS_OF).outcome["status"] == "ok"
        _edit(folder, "liquidation: 1.2\n", "liquidation: 1.1\n        # checked again\n")
        fixed = watcher.poll()
    assert [type(error) for error in errors] == [PolicyError]
    assert isinstance(errors[0], PolicyError)
    problem = errors[0].problems[0]
    assert (problem.file, problem.json_path) == (str(folder / MARGIN), "$.modes.cross_classic.leverages[1].margin_call")
    assert [log["event"] for log in logs] == ["policy_reload_failed", "policies_reloaded", "policy_edited_in_place"]
    assert logs[0]["problems"] == [str(problem) for problem in errors[0].problems]
    assert logs[0]["log_level"] == "error"
    assert fixed is not None
    assert fixed.policies != policies


def test_a_failing_callback_does_not_stop_the_watcher(folder: Path) -> None:
    """A callback that raises is logged; the reload it reports stands and the watcher keeps going."""
    engine = policy_engine.load(folder)

    def broken_callback(_reloaded: Reloaded) -> None:
        raise RuntimeError("the service's handler failed")

    with engine.watch(HOUR, on_reload=broken_callback) as watcher, capture_logs() as logs:
        _edit(folder, CALL_LEVEL_A, CALL_LEVEL_B)
        assert watcher.poll() is not None
        _edit(folder, CALL_LEVEL_B, CALL_LEVEL_A)
        assert watcher.poll() is not None
    failed = [log for log in logs if log["event"] == "policy_watch_callback_failed"]
    assert [log["error"] for log in failed] == ['RuntimeError("the service\'s handler failed")'] * 2
    assert engine.evaluate(ACCOUNT, AS_OF).outcome["status"] == "ok"


def test_the_watching_thread_reloads_by_itself_and_stops(folder: Path) -> None:
    """Started by `watch`, the thread notices an edit on its own; `stop()` ends it."""
    engine = policy_engine.load(folder)
    reloaded = threading.Event()
    watcher = engine.watch(timedelta(milliseconds=10), on_reload=lambda _reloaded: reloaded.set())
    try:
        assert watcher.running
        _edit(folder, CALL_LEVEL_A, CALL_LEVEL_B)
        assert reloaded.wait(timeout=120), "the watcher never reloaded"
    finally:
        watcher.stop()
    assert not watcher.running
    assert engine.evaluate(ACCOUNT, AS_OF).outcome["status"] == "margin_call"


def test_the_interval_must_be_positive(folder: Path) -> None:
    """A zero interval would poll in a busy loop: refused."""
    engine = policy_engine.load(folder)
    with pytest.raises(ValueError, match=r"the watch interval must be positive, got 0:00:00"):
        engine.watch(timedelta(0))
