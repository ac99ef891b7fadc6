"""`decision_id`: a content id in the decision JSON, the same as its decision-log line's (issue 16, item 5)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from policy_engine import Engine
from policy_engine.cli import main
from policy_engine.decision_log import DecisionLog

from .conftest import AS_OF, EXAMPLES, POLICIES, example


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_id_is_the_sha256_of_what_the_decision_answers(engine: Engine) -> None:
    """sha256 over the input digest, the policy files' sha256 (main, then related), the instant and the
    operations, one per line: the id is reproducible from the decision's own fields."""
    decision = engine.evaluate(example("margin-a-regular.json"), as_of=AS_OF)
    plain = decision.to_dict()
    hashed = "\n".join(
        [
            plain["input_sha256"],
            " ".join([plain["policy"]["sha256"], *[ref["sha256"] for ref in plain["related_policies"]]]),
            plain["as_of"],
            "[]\n",
        ]
    )
    assert plain["decision_id"] == decision.decision_id == hashlib.sha256(hashed.encode()).hexdigest()


def test_equal_questions_give_equal_ids_and_bytes(engine: Engine) -> None:
    """The same account, policies, instant and operations: the same id, and the decision's bytes unchanged."""
    first = engine.evaluate(example("margin-a-regular.json"), as_of=AS_OF)
    second = engine.evaluate(example("margin-a-regular.json"), as_of=AS_OF)
    assert (first.decision_id, first.to_json()) == (second.decision_id, second.to_json())
    assert json.loads(first.to_json())["decision_id"] == first.decision_id


def test_each_part_of_the_question_changes_the_id(engine: Engine) -> None:
    """Another account, another instant or another operation list: another id."""
    account = example("margin-a-regular.json")
    base = engine.evaluate(account, as_of=AS_OF).decision_id
    later = engine.evaluate(account, as_of="2026-03-02T00:00:00Z").decision_id
    cheaper = dict(account, assets=[{**account["assets"][0], "price": Decimal(43000)}])
    other_account = engine.evaluate(cheaper, as_of=AS_OF).decision_id
    loan = example("loan-topup.json")
    at = datetime(2020, 7, 25, 17, 18, 38, tzinfo=UTC)
    plain_loan = engine.evaluate(loan, as_of=at).decision_id
    operated = engine.evaluate(loan, as_of=at, operations=["reset"]).decision_id
    assert len({base, later, other_account, plain_loan, operated}) == 5


def test_the_log_line_carries_the_decision_id_and_as_of(tmp_path: Path) -> None:
    """`--log-file`: the line's decision_id is the decision's (it was a random uuid), and it has as_of."""
    log = tmp_path / "decisions.jsonl"
    code, out, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--as-of", AS_OF,
                         "--policies", str(POLICIES), "--log-file", str(log))
    assert (code, err) == (0, "")
    record = json.loads(log.read_text())
    decision = json.loads(out)
    assert (record["decision_id"], record["as_of"]) == (decision["decision_id"], decision["as_of"])


def test_a_decision_logged_twice_has_one_id(engine: Engine) -> None:
    """Two runs of the same question log the same id: a log can be joined with the decisions it explains."""
    stream = io.StringIO()
    log = DecisionLog(stream)
    for _ in range(2):
        log.record(engine.evaluate(example("margin-a-regular.json"), as_of=AS_OF), duration_ns=0)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["decision_id"] == second["decision_id"]
