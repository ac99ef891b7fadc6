"""`Engine.reload`: a new policy set goes in whole when every file loads, and never in part.

Two versions of the bundled pack are used: A (as shipped) and B, where the
cross-classic 5x margin call level is 1.25 instead of 1.16 and BTC's
100M-120M haircut band counts 0.95 instead of 0.975.  The account below
(1,000 BTC at 120,000 against 100M USDT) is `ok` with collateral value
119,500,000 under A and `margin_call` with collateral value 119,000,000 under
B, so a decision shows which margin policy *and* which collateral policy it
used; one made from a mix of the two matches neither set's decision.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine, PolicyError
from policy_engine.registry import discovered
from policy_engine.reloading import PolicyChange, PolicySet

from .conftest import AS_OF, BUNDLED_POLICIES, POLICIES, example

ACCOUNT = example("collateral-margin-btc.json")
MARGIN = "margin-trading.yaml"
COLLATERAL = "collateral.yaml"
MARGIN_CALL_A, MARGIN_CALL_B = "        margin_call: 1.16\n", "        margin_call: 1.25\n"
BAND_A, BAND_B = "        to: 120000000\n        ratio: 0.975\n", "        to: 120000000\n        ratio: 0.95\n"


def _edited(name: str, old: str, new: str) -> str:
    text = (POLICIES / name).read_text()
    assert text.count(old) == 1, f"{name} no longer holds {old!r}: update this test's edit"
    return text.replace(old, new).replace("version: 1\n", "version: 2\n", 1)


SET_A = {MARGIN: (POLICIES / MARGIN).read_text(), COLLATERAL: (POLICIES / COLLATERAL).read_text()}
SET_B = {MARGIN: _edited(MARGIN, MARGIN_CALL_A, MARGIN_CALL_B), COLLATERAL: _edited(COLLATERAL, BAND_A, BAND_B)}
BROKEN = {
    MARGIN: SET_A[MARGIN].replace(
        f"{MARGIN_CALL_A}        liquidation: 1.1\n", f"{MARGIN_CALL_A}        liquidation: 1.2\n"
    )
}
"""A liquidation level above its margin call level (1.16 at 5x): refused by the margin product at load."""


def _folder(tmp_path: Path, names: tuple[str, ...] = ()) -> Path:
    """A copy of the bundled policies (those `names` only, when given), in a folder named `policies` as the
    bundled one is (decisions cite it)."""
    folder = tmp_path / "policies"
    folder.mkdir(parents=True)
    for path in BUNDLED_POLICIES:
        if path.name in names or not names:
            shutil.copy(path, folder / path.name)
    return folder


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def _decision_json(folder: Path, files: dict[str, str]) -> str:
    """The account's decision by a fresh engine loaded from `files` written into `folder`."""
    _write(folder, files)
    return policy_engine.load(folder).evaluate(ACCOUNT, AS_OF).to_json()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _folder(tmp_path)


@pytest.fixture
def decisions(tmp_path: Path) -> dict[str, str]:
    """The account's decision JSON under set A and under set B, each made by an engine that never reloaded."""
    elsewhere = _folder(tmp_path / "expected", names=(MARGIN, COLLATERAL))
    return {"A": _decision_json(elsewhere, SET_A), "B": _decision_json(elsewhere, SET_B)}


def test_the_two_sets_give_recognisably_different_decisions(decisions: dict[str, str]) -> None:
    """Set A and set B differ in the margin policy, the collateral policy and the figures each decides."""

    def gist(text: str) -> tuple[Any, ...]:
        decision = json.loads(text)
        outcome, related = decision["outcome"], decision["related_policies"]
        return (
            outcome["status"],
            outcome["collateral_value"],
            decision["policy"]["version"],
            [(ref["kind"], ref["version"]) for ref in related],
        )

    assert gist(decisions["A"]) == ("ok", "119500000.000", 1, [("collateral", 1)])
    assert gist(decisions["B"]) == ("margin_call", "119000000.00", 2, [("collateral", 2)])


def test_reload_puts_the_new_set_in_force_and_names_what_changed(folder: Path, decisions: dict[str, str]) -> None:
    """After a reload, decisions are those of the re-read files; the result lists each replaced version."""
    engine = policy_engine.load(folder)
    before = {ref.kind: ref for ref in engine.policies}
    assert engine.evaluate(ACCOUNT, AS_OF).to_json() == decisions["A"]
    _write(folder, SET_B)
    reloaded = engine.reload()
    after = {ref.kind: ref for ref in engine.policies}
    assert reloaded.changes == (
        PolicyChange(kind="collateral", old=before["collateral"], new=after["collateral"]),
        PolicyChange(kind="margin-trading", old=before["margin-trading"], new=after["margin-trading"]),
    )
    assert reloaded.policies == engine.policies
    assert [change.edited_in_place for change in reloaded.changes] == [False, False]  # both have a new version
    assert {kind: ref.version for kind, ref in after.items()} == {
        **{kind: ref.version for kind, ref in before.items()},
        "collateral": 2,
        "margin-trading": 2,
    }
    assert str(reloaded.changes[1]) == (
        f"margin-trading: spot-margin v1 ({before['margin-trading'].sha256[:12]})"
        f" -> spot-margin v2 ({after['margin-trading'].sha256[:12]})"
    )
    assert engine.evaluate(ACCOUNT, AS_OF).to_json() == decisions["B"]


def test_a_reload_of_unchanged_files_changes_nothing(folder: Path) -> None:
    """Reading the same files again reports no change and keeps every version."""
    engine = policy_engine.load(folder)
    policies = engine.policies
    reloaded = engine.reload()
    assert (reloaded.changes, reloaded.changed, reloaded.policies) == ((), False, policies)


def test_a_file_added_or_removed_is_a_change(folder: Path) -> None:
    """A policy file that appears or disappears is an added or a removed version."""
    (folder / "futures.yaml").rename(folder.parent / "futures.yaml")
    engine = policy_engine.load(folder)
    assert "futures-margin" not in {ref.kind for ref in engine.policies}
    (folder.parent / "futures.yaml").rename(folder / "futures.yaml")
    added = engine.reload().changes
    futures = next(ref for ref in engine.policies if ref.kind == "futures-margin")
    assert added == (PolicyChange(kind="futures-margin", old=None, new=futures),)
    assert str(added[0]) == f"futures-margin: (none) -> {futures.id} v{futures.version} ({futures.sha256[:12]})"
    (folder / "futures.yaml").unlink()
    assert engine.reload().changes == (PolicyChange(kind="futures-margin", old=futures, new=None),)


def test_an_edit_that_keeps_the_version_is_flagged(folder: Path) -> None:
    """Same id and version, other contents: decisions then differ only by the policy's sha256, so it is flagged."""
    engine = policy_engine.load(folder)
    (folder / MARGIN).write_text(SET_A[MARGIN].replace(MARGIN_CALL_A, MARGIN_CALL_B))
    (change,) = engine.reload().changes
    assert change.edited_in_place
    assert change.old is not None
    assert change.new is not None
    assert change.to_dict() == {
        "kind": "margin-trading",
        "old": change.old.to_dict(),
        "new": change.new.to_dict(),
        "edited_in_place": True,
    }
    assert {key: change.new.to_dict()[key] for key in ("id", "version", "effective_from", "file")} == {
        "id": "spot-margin",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "file": "policies/margin-trading.yaml",
    }
    assert change.old.sha256 != change.new.sha256


def test_a_failed_reload_raises_every_problem_and_keeps_the_old_set(folder: Path, decisions: dict[str, str]) -> None:
    """A broken file (with a good edit beside it) raises `PolicyError` naming it; nothing of the new files is used."""
    engine = policy_engine.load(folder)
    policies = engine.policies
    _write(folder, {**SET_B, **BROKEN})
    (folder / "futures.yaml").write_text("kind: futures-margin\nid: [unclosed\n")
    with pytest.raises(PolicyError) as raised:
        engine.reload()
    files = sorted({problem.file for problem in raised.value.problems})
    assert files == [str(folder / "futures.yaml"), str(folder / MARGIN)]
    assert engine.policies == policies
    assert engine.evaluate(ACCOUNT, AS_OF).to_json() == decisions["A"]


def test_an_engine_made_from_compiled_policies_cannot_reload(engine: Engine) -> None:
    """`Engine(policies)` has no files to read again: reload and watch say so instead of guessing."""
    made = Engine([engine.policy_for("spot-margin", AS_OF), engine.policy_for("margin-transfer", AS_OF)])
    with pytest.raises(PolicyError, match="made from compiled policies, not loaded from files"):
        made.reload()
    with pytest.raises(PolicyError, match="made from compiled policies, not loaded from files"):
        made.watch()


def test_a_policy_set_is_read_only(folder: Path) -> None:
    """The snapshot an evaluation reads cannot be changed in place: only replaced."""
    policies = PolicySet.of([])
    with pytest.raises(AttributeError):
        policies.latest = {}  # type: ignore[misc]  # the point: frozen
    with pytest.raises(TypeError):
        policies.versions["margin-trading"] = ()  # type: ignore[index]  # the point: read-only


class _ReloadingReads(tuple[str, ...]):
    """A product's `reads` that, once armed, reloads the engine the next time it is iterated: the engine
    iterates it to look up the related policies, after it has chosen the product's own policy."""

    engine: Engine | None = None

    def __iter__(self) -> Iterator[str]:
        engine, type(self).engine = type(self).engine, None
        if engine is not None:
            engine.reload()
        return super().__iter__()


def test_a_reload_in_the_middle_of_an_evaluation_is_not_seen_by_it(folder: Path, decisions: dict[str, str]) -> None:
    """Deterministically, the worst moment: a reload lands between the choice of the margin policy and the
    look-up of the collateral policy.  The evaluation still uses set A throughout; the next one uses set B."""
    margin = next(product for product in discovered().by_policy_kind.values() if product.account_kind == "spot-margin")
    products = [
        replace(margin, reads=_ReloadingReads(margin.reads)) if product is margin else product
        for product in discovered().by_policy_kind.values()
    ]
    engine = policy_engine.load(folder, products=products)
    _write(folder, SET_B)
    _ReloadingReads.engine = engine
    during = engine.evaluate(ACCOUNT, AS_OF).to_json()
    assert _ReloadingReads.engine is None, "the reload did not happen during the evaluation"
    assert during == decisions["A"]
    assert engine.evaluate(ACCOUNT, AS_OF).to_json() == decisions["B"]


@dataclass
class _Evaluator:
    """A thread deciding the account over and over, keeping each distinct decision it saw and its last one."""

    engine: Engine
    stopping: threading.Event
    seen: dict[str, int] = field(default_factory=dict)
    done: int = 0
    last: str = ""
    failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                text = self.engine.evaluate(ACCOUNT, AS_OF).to_json()
                self.seen[text] = self.seen.get(text, 0) + 1
                self.last = text
                self.done += 1
        except BaseException as error:  # reported by the main thread
            self.failure = error


RELOADS = 8
EVALUATORS = 2


def test_evaluations_during_reloads_see_one_whole_set(tmp_path: Path, decisions: dict[str, str]) -> None:
    """Threads decide continuously while the main thread reloads between A and B (and fails on a broken file
    every third turn): every decision is byte for byte set A's or set B's, and an evaluation that starts after
    a reload returns uses the new set."""
    folder = _folder(tmp_path / "small", names=(MARGIN, COLLATERAL))  # the kinds the account uses: quick loads
    engine = policy_engine.load(folder)
    stopping = threading.Event()
    evaluators = [_Evaluator(engine, stopping) for _ in range(EVALUATORS)]
    threads = [threading.Thread(target=evaluator.run) for evaluator in evaluators]
    try:
        for thread in threads:
            thread.start()
        for turn in range(RELOADS):
            name, files = ("B", SET_B) if turn % 2 == 0 else ("A", SET_A)
            if turn % 3 == 0:
                _write(folder, BROKEN)
                with pytest.raises(PolicyError):
                    engine.reload()
            _write(folder, files)
            assert {change.kind for change in engine.reload().changes} == {"collateral", "margin-trading"}
            marks = [evaluator.done for evaluator in evaluators]
            # the evaluation in flight at the swap ends at mark + 1; the one after it started after the swap
            while any(e.done < mark + 2 and e.failure is None for e, mark in zip(evaluators, marks, strict=True)):
                stopping.wait(0.001)
            assert [e.last == decisions[name] for e in evaluators] == [True] * EVALUATORS
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
    assert [e.failure for e in evaluators] == [None] * EVALUATORS
    seen: dict[str, int] = {}
    for evaluator in evaluators:
        for text, count in evaluator.seen.items():
            seen[text] = seen.get(text, 0) + count
    assert set(seen) == {decisions["A"], decisions["B"]}, _first_stray(seen, decisions)


def _first_stray(seen: dict[str, Any], decisions: dict[str, str]) -> str:
    strays = [text for text in seen if text not in decisions.values()]
    return strays[0][:3000] if strays else "no stray decision"
