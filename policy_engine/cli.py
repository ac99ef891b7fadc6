"""The `policy-engine` command line.

Exit codes are listed in `exit_codes.py` (and by `policy-engine --help`).
Problems go to stderr as text, never as a traceback, or, when `--format json`
(`jsonl`, batch's `--summary json`) is given, to stdout as one JSON document
`{"error": NAME, "exit_code": N, "problems": [...]}`; decisions and reports
go to stdout; decision log lines only to `--log-file` (`-`: stderr).  `-`
names standard input wherever a file is read, and problems then name it
`<stdin>`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._depth import too_deep
from ._numbers import parse_decimal
from .accounts import parse_account, too_deep_message
from .bundled import DEFAULT_POLICIES
from .decision import canonical_json
from .decision_log import DecisionLog
from .engine import load
from .errors import AccountError, EvaluationError, PolicyEngineError, PolicyError, Problem
from .exit_codes import (
    EXIT_CHECK,
    EXIT_EVALUATION,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_POLICY,
    EXIT_TERMINATED,
    NAMES,
    exit_code_table,
)
from .registry import discovered
from .walk_limits import DEFAULT_WALK_LIMITS, WalkLimits

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from .model import PolicyRef

STDIN_NAME = "<stdin>"
"""What problems call standard input, read for a file named `-`."""
MAX_INPUT_BYTES = 1 << 24
"""The largest account or policy test file read from a file or stdin: 16 MiB (`--max-input-bytes`)."""


class _UsageError(Exception):
    pass


class _InputError(PolicyEngineError):
    """What the command was given is wrong (a file, a folder, an option's value): exit 2."""


def _policy_paths(args: argparse.Namespace) -> list[str]:
    """The `--policies` paths; without any, `./policies`, or a problem saying how to start when it is missing."""
    if args.policies and "-" in args.policies:
        raise _InputError(
            [
                Problem(
                    file="--policies",
                    message="expected a policy file or folder, got - (standard input cannot hold a policy set);"
                    " `policy-engine validate -` checks one policy document read from standard input",
                )
            ]
        )
    if args.policies:
        return list(args.policies)
    if not Path(DEFAULT_POLICIES).exists():
        raise PolicyError([_no_default_policies("--policies PATH")])
    return [DEFAULT_POLICIES]


def _no_default_policies(option: str) -> Problem:
    return Problem(
        file=DEFAULT_POLICIES,
        message=f"no folder `{DEFAULT_POLICIES}` here, the default place for policies;"
        f" write a starter pack with `policy-engine init`, or pass {option}",
    )


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds `(default: X)` to an option's help where the default is worth stating; keeps the epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None or "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return f"{text} (default: %(default)s)"


class _VersionAction(argparse.Action):
    """`--version`: reads the installed package's metadata only when asked (it costs a few milliseconds)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from . import __version__  # noqa: PLC0415 - read on demand

        parser._print_message(f"{parser.prog} {__version__}\n")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, and prints help to the stream `main` was given, not `sys.stdout`."""

    def __init__(self, *args: Any, out: TextIO | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.out = out

    def error(self, message: str) -> None:  # type: ignore[override]  # raise, never exit
        raise _UsageError(f"{self.prog}: {message}")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if not message:
            return
        # argparse passes None (or sys.stdout) for help text, sys.stderr for usage errors
        target = file if file is not None and file is not sys.stdout else self.out or sys.stdout
        target.write(message)


def _operations_help() -> str:
    """The operations every registered product offers, for `--op`'s help."""
    offered = []
    for kind, product in sorted(discovered().by_account_kind.items()):
        for operation in product.operations:
            usage = operation.name if operation.argument is None else f"{operation.name}={operation.argument}"
            offered.append(f"{usage} ({kind}: {operation.help})")
    listed = "; ".join(offered) if offered else "no product offers any"
    # argparse formats help with %: a product's "5% of the loan" must stay text
    return f"apply a named operation to the account before evaluating (repeatable, in order): {listed}".replace(
        "%", "%%"
    )


def _policies_option(command: argparse.ArgumentParser) -> None:
    """`--policies PATH`, the same on every command that loads policies."""
    command.add_argument(
        "--policies",
        action="append",
        default=None,
        metavar="PATH",
        help="policy folder or file (repeatable; default: policies)",
    )


def _positive_int(text: str) -> int:
    number = int(text)
    if number <= 0:
        raise ValueError(text)
    return number


def _input_limit_option(command: argparse.ArgumentParser) -> None:
    """`--max-input-bytes N`: the bound on reading the account (issue 15: nothing is read whole first)."""
    command.add_argument(
        "--max-input-bytes",
        type=_positive_int,
        default=MAX_INPUT_BYTES,
        metavar="N",
        help="refuse an account larger than this, before reading the rest",
    )


def _parser(out: TextIO) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="policy-engine",
        description="Risk rules as versioned YAML: validate and evaluate.",
        epilog=f"exit codes:\n{exit_code_table()}\n\n{_CONVENTIONS}",
        out=out,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="check policy files; exit 1 listing every problem", out=out)
    validate.add_argument(
        "paths",
        nargs="*",
        default=[],
        help="policy files or folders, or - for one policy document on standard input (default: policies)",
    )
    validate.add_argument("--format", choices=("text", "json"), default="text", help=_FORMAT_HELP)

    evaluate = commands.add_parser("evaluate", help="decide for one account and explain why", out=out)
    evaluate.add_argument("account", help="account file (JSON or YAML), or - for standard input")
    _policies_option(evaluate)
    _input_limit_option(evaluate)
    evaluate.add_argument(
        "--as-of",
        default=None,
        metavar="ISO-8601",
        help="evaluate under the policy version in force at this instant (default: now)",
    )
    evaluate.add_argument(
        "--format",
        choices=("json", "text"),
        default=None,
        help="json: the canonical decision (the default); text: an explanation. " + _FORMAT_HELP,
    )
    evaluate.add_argument(
        "--log-file",
        default=None,
        metavar="PATH",
        help="append one JSON line per decision to this file (- for standard error)",
    )
    evaluate.add_argument(
        "--log-input",
        action="store_true",
        help="with --log-file: also log the account decided on and the outcome, so that the line can be replayed",
    )
    _fail_on_option(evaluate, "the decision's status")
    evaluate.add_argument(
        "--op", action="append", dest="operations", default=[], metavar="NAME[=VALUE]", help=_operations_help()
    )
    evaluate.add_argument(
        "--event",
        action="append",
        dest="operations",
        type=lambda text: text.replace(":", "=", 1),
        metavar="NAME[:VALUE]",
        help="the same as --op, with `:` before the value (kept for earlier scripts)",
    )

    simulate = commands.add_parser(
        "simulate", help="walk an account through a price path and print its timeline", out=out
    )
    simulate.add_argument("account", help="account file (JSON or YAML), or - for standard input")
    simulate.add_argument(
        "--prices",
        required=True,
        metavar="PATH",
        help="price path in time order: CSV or JSON Lines of timestamp, asset, price (- for standard input)",
    )
    _policies_option(simulate)
    _input_limit_option(simulate)
    simulate.add_argument(
        "--max-evaluations",
        type=_at_least(1),
        default=DEFAULT_WALK_LIMITS.max_evaluations,
        metavar="N",
        help="stop the walk after this many evaluations (price points and retries); the timeline written ends"
        " there, its summary says `ended: evaluation_limit`, and the exit code is 2 (default: %(default)s)",
    )
    simulate.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="stop the walk after this long (whole or decimal seconds), as --max-evaluations does, with"
        " `ended: time_limit` (default: no bound beyond --max-evaluations)",
    )
    simulate.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="text or json (written when the walk ends), or jsonl: one line per evaluation as it is made,"
        " then a summary line. " + _FORMAT_HELP,
    )
    _fail_on_option(simulate, "any evaluation's status along the path")
    _add_batch_commands(commands, out)
    _add_pack_commands(commands, out)
    return parser


_FORMAT_HELP = "With json (or jsonl) given, problems are one JSON document on stdout too, not text on stderr."
_CONVENTIONS = """\
`-` names standard input wherever a file is read (problems then name it
<stdin>); `--log-file -` writes the decision log to standard error.
With --format json, problems are one JSON document on stdout:
  {"error": NAME, "exit_code": N,
   "problems": [{"file", "line", "col", "json_path", "message", "suggestion"}]}"""


def _statuses(text: str) -> list[str]:
    """An argparse `type`: `STATUS[,STATUS]`."""
    statuses = [status.strip() for status in text.split(",")]
    if not all(statuses):
        raise argparse.ArgumentTypeError(f"expected STATUS[,STATUS], got {text!r}")
    return statuses


def _fail_on_option(command: argparse.ArgumentParser, what: str) -> None:
    """`--fail-on STATUS[,STATUS]`: exit 5 (check) when a decision has one of these statuses."""
    command.add_argument(
        "--fail-on",
        type=_statuses,
        action="extend",
        default=[],
        metavar="STATUS[,STATUS]",
        help=f"exit {EXIT_CHECK} when {what} is one of these (repeatable; the output is written all the same)",
    )


def _json_errors(args: argparse.Namespace) -> bool:
    """Whether the command was asked for JSON: then its problems are a JSON document on stdout."""
    return getattr(args, "format", None) in ("json", "jsonl") or getattr(args, "summary", None) == "json"


def _report(args: argparse.Namespace, code: int, problems: Sequence[Problem], stdout: TextIO, stderr: TextIO) -> int:
    """Problems as text on stderr, or as the JSON error document on stdout; returns `code`."""
    if _json_errors(args):
        document: dict[str, Any] = {
            "error": NAMES[code],
            "exit_code": code,
            "problems": [problem.to_dict() for problem in problems],
        }
        if args.command == "validate":
            document["valid"] = False
        stdout.write(canonical_json(document, indent=None if args.format == "jsonl" else 2))
    else:
        _print_problems(problems, stderr)
    return code


def _print_problems(problems: Sequence[Problem], stderr: TextIO) -> None:
    for problem in problems:
        print(problem, file=stderr)
    count = len(problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=stderr)


def _validate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if not args.paths and not Path(DEFAULT_POLICIES).exists():
        raise PolicyError([_no_default_policies("the policy files or folders to check")])
    if args.paths.count("-") > 1:
        raise _InputError([Problem(file=STDIN_NAME, message="- is given twice; standard input can be read once")])
    with _StdinPolicy(stdin if "-" in args.paths else None) as from_stdin:
        paths = [from_stdin.path if path == "-" else path for path in args.paths or [DEFAULT_POLICIES]]
        refs = _checked_policies(paths, from_stdin)
        if args.format == "json":
            listed = [{**ref.to_dict(), "file": from_stdin.cited(ref.file)} for ref in refs]
            stdout.write(canonical_json({"valid": True, "policies": listed}, indent=2))
            return EXIT_OK
        for ref in refs:
            print(
                f"ok  {from_stdin.cited(ref.file)}  {ref.kind} {ref.id} v{ref.version}"
                f" from {ref.effective_from.date().isoformat()}",
                file=stdout,
            )
    return EXIT_OK


def _checked_policies(paths: list[str], from_stdin: _StdinPolicy) -> list[PolicyRef]:
    """What `load()` would load from `paths`, by kind and then time, checked as `load()` does and for the
    `$schema=` editor line as well; a `PolicyError` with every problem otherwise."""
    from .documents import LoadLimits, compile_paths  # noqa: PLC0415 - only validate needs them
    from .registry import discovered  # noqa: PLC0415 - only validate needs it

    compiled, problems = compile_paths(paths, LoadLimits(), discovered(), schema_lines=True)
    if problems:
        raise PolicyError([from_stdin.named(problem) for problem in problems])
    return sorted((policy.ref for policy in compiled), key=lambda ref: (ref.kind, ref.effective_from))


class _StdinPolicy:
    """A policy document read from standard input, kept in a temporary file for the loader, named `<stdin>`."""

    def __init__(self, stdin: TextIO | None) -> None:
        self._stdin = stdin
        self._folder: Path | None = None
        self.path = ""

    def __enter__(self) -> _StdinPolicy:
        if self._stdin is not None:
            import tempfile  # noqa: PLC0415 - only `validate -` needs it

            self._folder = Path(tempfile.mkdtemp(prefix="policy-engine-"))
            self.path = str(self._folder / "stdin.yaml")
            Path(self.path).write_text(self._stdin.read().removeprefix("\ufeff"), encoding="utf-8")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._folder is not None:
            import shutil  # noqa: PLC0415 - only `validate -` needs it

            shutil.rmtree(self._folder, ignore_errors=True)

    def named(self, problem: Problem) -> Problem:
        """`problem` with the temporary file's name replaced by `<stdin>`."""
        if not self.path:
            return problem
        from dataclasses import replace  # noqa: PLC0415 - only `validate -` needs it

        file = STDIN_NAME if problem.file == self.path else problem.file
        return replace(problem, file=file, message=problem.message.replace(self.path, STDIN_NAME))

    def cited(self, file: str) -> str:
        """A policy's cited file (`folder/name`), `<stdin>` for the temporary file."""
        return STDIN_NAME if self._folder is not None and file == f"{self._folder.name}/stdin.yaml" else file


def _read_text(name: str, stdin: TextIO, *, what: str = "account", limit: int = MAX_INPUT_BYTES) -> str:
    """A file's text, or stdin's for `-`, read with a bound (never whole first); a byte-order mark is dropped."""
    shown = STDIN_NAME if name == "-" else name
    try:
        if name == "-":
            source = getattr(stdin, "buffer", None)
            raw: bytes | str = source.read(limit + 1) if source is not None else stdin.read(limit + 1)
        else:
            with Path(name).open("rb") as file:
                raw = file.read(limit + 1)  # a device such as /dev/zero reports no size: the bound is the read's
    except OSError as error:
        raise AccountError([Problem(file=shown, message=f"cannot read the {what}: {error.strerror}")]) from error
    if len(raw) > limit:
        message = f"the {what} is larger than {limit:,} {'characters' if isinstance(raw, str) else 'bytes'};"
        raise AccountError([Problem(file=shown, message=f"{message} refused before reading the rest")])
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AccountError([Problem(file=shown, message=f"the {what} is not UTF-8 text")]) from error


def _read_account(name: str, stdin: TextIO, limit: int = MAX_INPUT_BYTES) -> tuple[Any, str, str]:
    """The parsed account, the name errors cite for it, and its text (to locate its problems: `_located`)."""
    source = STDIN_NAME if name == "-" else name
    text = _read_text(name, stdin, limit=limit)
    yaml = None if name == "-" else Path(name).suffix.lower() in (".yaml", ".yml")
    try:
        account = parse_account(text, source=source, yaml=yaml)
    except RecursionError as error:  # the parser's own stack: nesting far past any account's
        raise AccountError([Problem(file=source, message=_DEEP_MESSAGE)]) from error
    deep = too_deep(account)
    if deep is not None:
        raise AccountError([Problem(file=source, json_path=deep, message=_DEEP_MESSAGE)])
    return account, source, text


@contextmanager
def _located(text: str, source: str) -> Iterator[None]:
    """Account problems raised inside get the line and column of their JSON path in `text`.

    Only a refused account pays for it: its text is read again with positions.
    """
    try:
        yield
    except AccountError as error:
        from .account_marks import locate_account_problems  # noqa: PLC0415 - the error path only

        raise AccountError(locate_account_problems(error.problems, text, source=source)) from error


_DEEP_MESSAGE = too_deep_message()


def _log_target(name: str | None, stderr: TextIO) -> str | TextIO | None:
    """Where `--log-file` sends decision log lines: a file, standard error for `-`, or nowhere."""
    return stderr if name == "-" else name


def _open_error(option: str, name: str, error: OSError) -> _InputError:
    return _InputError([Problem(file=name, message=f"{option}: cannot open it: {error.strerror}")])


def _failed_check(statuses: Sequence[str], found: dict[str, int], stderr: TextIO) -> int:
    """`EXIT_CHECK` and a line on stderr when a decision has a status named by `--fail-on`; otherwise `EXIT_OK`."""
    named = {status: count for status, count in found.items() if status in statuses and count}
    if not named:
        return EXIT_OK
    counts = ", ".join(f"{status} {count}" for status, count in sorted(named.items()))
    print(f"policy-engine: decisions with a status named by --fail-on: {counts}", file=stderr)
    return EXIT_CHECK


def _evaluate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    if args.log_input and args.log_file is None:
        raise _InputError([Problem(file="--log-input", message="expected --log-file as well: where to log")])
    try:
        target = _log_target(args.log_file, stderr)
        log = DecisionLog(target, with_input=args.log_input) if target is not None else None
    except OSError as error:
        raise _open_error("--log-file", args.log_file, error) from error
    with load(*_policy_paths(args), decision_log=log) as engine:
        account, source, text = _read_account(args.account, stdin, args.max_input_bytes)
        with _located(text, source):
            decision = engine.evaluate(account, as_of=args.as_of, source=source, operations=args.operations)
        product = engine.product_for(decision.account)
    if args.format in (None, "json"):
        stdout.write(decision.to_json(indent=2))
    else:
        from .explain import explain  # noqa: PLC0415 - only --format text needs it

        stdout.write(explain(json.loads(decision.to_json()), product))
    return _failed_check(args.fail_on, {decision.status: 1}, stderr)


def _simulate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    engine = load(*_policy_paths(args))
    if args.account == "-" and args.prices == "-":
        raise AccountError([Problem(file="--prices", message="the account and the price path cannot both be stdin")])
    from .simulate import PricePath, walk, write_timeline  # noqa: PLC0415 - only this command needs it

    account, source, text = _read_account(args.account, stdin, args.max_input_bytes)
    opened = PricePath.from_stream(stdin, source=STDIN_NAME) if args.prices == "-" else PricePath.open(args.prices)
    limits = WalkLimits(max_evaluations=args.max_evaluations, time_limit=args.time_limit)
    with opened as path, _located(text, source):  # streamed: memory stays flat however long the path is
        timeline = walk(engine, account, path, source=source, limits=limits)
        write_timeline(timeline, stdout, args.format)
    ended = timeline.summary["ended"] if timeline.summary else None
    if ended in _STOPPED_BY:
        print(
            f"policy-engine simulate: stopped after {timeline.evaluations} evaluations by {_STOPPED_BY[ended]};"
            f" the timeline written ends there (its summary says `ended: {ended}`)",
            file=stderr,
        )
        return EXIT_INPUT
    return _failed_check(args.fail_on, timeline.statuses, stderr)


_STOPPED_BY = {"evaluation_limit": "--max-evaluations", "time_limit": "--time-limit"}
"""How a walk stopped by a bound ends (its summary's `ended`), and the option that set the bound."""


def _seconds(text: str) -> timedelta:
    """An argparse `type`: a positive number of seconds, whole or decimal, as a `timedelta` (never via binary)."""
    seconds = parse_decimal(text)
    if seconds is None or seconds <= 0 or seconds > MAX_TIME_LIMIT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds above 0 and at most {MAX_TIME_LIMIT_SECONDS}, got {text!r}"
        )
    return timedelta(microseconds=int(seconds.scaleb(6).to_integral_value()))


MAX_TIME_LIMIT_SECONDS = 10**9
"""About 31 years: a larger --time-limit is a typo, not a bound."""


def _at_least(minimum: int) -> Any:
    """An argparse `type`: a whole number no smaller than `minimum`."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {value}")
        return value

    return whole_number


def _add_batch_commands(commands: Any, out: TextIO) -> None:
    """The `batch` and `population` subcommands."""
    batch = commands.add_parser(
        "batch", help="decide every account of a JSON Lines or Parquet input: one output row per row, in order", out=out
    )
    batch.add_argument(
        "input",
        metavar="INPUT",
        help="JSON Lines, one account per line, or - for standard input; or Parquet, a file or a folder of part"
        " files, the account's JSON in a column `account` (the extra `parquet`)",
    )
    batch.add_argument(
        "--out",
        required=True,
        metavar="OUTPUT",
        help="JSON Lines to write (Parquet for a name ending in .parquet or .pq; a folder of Parquet part files"
        " with --engine dask): per input line, its decision or an error row naming the line; written under"
        " a temporary name in the same folder and renamed at the end (an interrupted run leaves no file)",
    )
    batch.add_argument(
        "--workers",
        type=_at_least(0),
        default=1,
        metavar="N",
        help="local worker processes, each loading the policies once (default 1: in this process; 0: one per CPU);"
        " with --engine dask and no --scheduler, the local cluster's workers",
    )
    batch.add_argument(
        "--trace", choices=("full", "none"), default="full", help="full decisions, or the outcome without the trace"
    )
    batch.add_argument(
        "--as-of",
        default=None,
        metavar="ISO-8601",
        help="the instant of every decision (default: now, read once: one instant for the whole batch)",
    )
    _policies_option(batch)
    _input_limit_option(batch)  # here: the bound on one JSON Lines line
    batch.add_argument(
        "--log-file",
        default=None,
        metavar="PATH",
        help="append one JSON line per decision to this file, in order (- for standard error)",
    )
    batch.add_argument(
        "--log-input",
        action="store_true",
        help="with --log-file: also log each account decided on and its outcome, so that a line can be replayed",
    )
    batch.add_argument(
        "--summary",
        choices=("text", "json"),
        default="text",
        help="the summary at the end: text on stderr (default), or one JSON object on stdout",
    )
    batch.add_argument(
        "--fail-on-error",
        action="store_true",
        help="exit 2 when any row is an error row (the output is written all the same); by default 0",
    )
    _fail_on_option(batch, "any decision's status")
    batch.add_argument(
        "--chunk-size", type=_at_least(1), default=1000, metavar="ROWS", help="rows per chunk (default 1000)"
    )
    batch.add_argument(
        "--input-format",
        choices=("jsonl", "parquet"),
        default=None,
        help="default: parquet for a name ending in .parquet or .pq or a folder (of part files), else jsonl",
    )
    batch.add_argument(
        "--output-format",
        choices=("jsonl", "parquet"),
        default=None,
        help="default: parquet for a name ending in .parquet or .pq (always with --engine dask), else jsonl",
    )
    batch.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: this process and --workers local processes; dask: a Dask cluster, Parquet in, a folder of"
        " Parquet part files out (the optional extra `dask`)",
    )
    batch.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask: the scheduler to connect to (tcp://host:8786); default: a local cluster of"
        " --workers processes",
    )
    batch.add_argument(
        "--partition-rows",
        type=_at_least(1),
        default=100_000,
        metavar="ROWS",
        help="with --engine dask: rows per task and per output part, at least (whole row groups)",
    )

    population = commands.add_parser(
        "population", help="write synthetic accounts as JSON Lines, the same for the same seed", out=out
    )
    population.add_argument(
        "--kind",
        action="append",
        default=None,
        metavar="KIND",
        help="account kind (repeatable, the kinds take turns): crypto-loan, spot-margin (the default, both),"
        " futures-position or margin-transfer",
    )
    population.add_argument("--count", type=_at_least(0), required=True, metavar="N", help="accounts to write")
    population.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    population.add_argument(
        "--out",
        default="-",
        metavar="PATH",
        help="file to write (renamed into place at the end), or - for stdout; a name ending in .parquet or .pq"
        " writes Parquet batch input (columns account_id, kind, account: the JSON text), with the extra `parquet`",
    )
    population.add_argument(
        "--as-of",
        default=None,
        metavar="ISO-8601",
        help="the instant the population is made for: thresholds of the policy in force then, failed top-up"
        " attempts before it (default: the start of the newest policy version; decide at this instant or later)",
    )
    _policies_option(population)


def _batch_format(given: str | None, path: str) -> str:
    """The format asked for, else the one the name says: Parquet for .parquet/.pq or a folder."""
    if given is not None:
        return given
    suffix = Path(path).suffix.lower()
    return "parquet" if suffix in (".parquet", ".pq") or (path != "-" and Path(path).is_dir()) else "jsonl"


def _batch_reader(args: argparse.Namespace, input_format: str, stdin: TextIO, stack: ExitStack) -> Any:
    """The batch's reader: Parquet (a file or a folder of parts), or JSON Lines from a file or stdin."""
    if input_format == "parquet":
        from .parquet import ParquetReader  # noqa: PLC0415 - pyarrow is an optional extra

        return ParquetReader(args.input, chunk_size=args.chunk_size)
    from .batch import JsonlReader  # noqa: PLC0415 - only this command needs it

    if args.input == "-":
        stdin_lines = getattr(stdin, "buffer", stdin)  # bytes when stdin has them
        return JsonlReader(stdin_lines, chunk_size=args.chunk_size, max_line_bytes=args.max_input_bytes)
    try:
        stream = Path(args.input).open("rb")  # noqa: SIM115 - closed by the caller's ExitStack, after the run
    except OSError as error:
        raise AccountError([Problem(file=args.input, message=f"cannot read the accounts: {error.strerror}")]) from error
    stack.callback(stream.close)
    return JsonlReader(stream, chunk_size=args.chunk_size, max_line_bytes=args.max_input_bytes)


def _batch_writer(out: str, output_format: str) -> Any:
    if output_format == "parquet":
        from .parquet import ParquetWriter  # noqa: PLC0415 - pyarrow is an optional extra

        return ParquetWriter(out)
    from .batch import JsonlWriter  # noqa: PLC0415 - only this command needs it

    return JsonlWriter(out)


def _missing_extra(missing: ImportError, where: str) -> _InputError:
    """A `MissingExtra` as the problem the command reports: the extra to install, at the file that needs it."""
    return _InputError([Problem(file=where, message=str(missing))])


def _batch(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    from ._extras import MissingExtra  # noqa: PLC0415 - only this command needs it
    from .batch import BatchOptions, EngineSpec, run_batch, worker_count  # noqa: PLC0415 - only this command
    from .clock import resolve_instant  # noqa: PLC0415 - only this command needs it

    if args.out == "-":
        raise _InputError(
            [
                Problem(
                    file="--out",
                    message="expected a file name, got - (batch writes its output under a temporary name and"
                    " renames it at the end, which standard output cannot do)",
                )
            ]
        )
    source = STDIN_NAME if args.input == "-" else args.input
    input_format = _batch_format(args.input_format, args.input)
    output_format = "parquet" if args.engine == "dask" else _batch_format(args.output_format, args.out)
    _check_batch_formats(args, input_format)
    if args.log_input and args.log_file is None:
        raise _InputError([Problem(file="--log-input", message="expected --log-file as well: where to log")])
    options = BatchOptions(
        as_of=resolve_instant(args.as_of),
        trace=args.trace == "full",
        source=source,
        output_format=output_format,
        log_input=args.log_input,
    )
    spec = EngineSpec(policies=tuple(_policy_paths(args)))
    if args.engine == "dask":
        try:
            return _batch_on_dask(args, options, spec, stdout, stderr)
        except MissingExtra as missing:
            raise _missing_extra(missing, "--engine dask") from None
    with ExitStack() as stack:
        try:
            reader = _batch_reader(args, input_format, stdin, stack)
        except MissingExtra as missing:
            raise _missing_extra(missing, args.input) from None
        try:
            log = (
                stderr  # --log-file -
                if args.log_file == "-"
                else stack.enter_context(Path(args.log_file).open("a", encoding="utf-8"))
                if args.log_file
                else None
            )
        except OSError as error:
            raise _open_error("--log-file", args.log_file, error) from error
        try:
            writer = _batch_writer(args.out, output_format)
        except MissingExtra as missing:
            raise _missing_extra(missing, args.out) from None
        except OSError as error:
            print(f"policy-engine: --out {args.out}: {error.strerror}", file=stderr)
            return EXIT_INPUT
        return _report_batch(
            args,
            lambda on_chunk: run_batch(
                reader,
                writer,
                options=options,
                spec=spec,
                workers=worker_count(args.workers),
                decision_log=log,
                on_chunk=on_chunk,
            ),
            total_bytes=reader.total_bytes,
            total_rows=getattr(reader, "total_rows", None),
            stdout=stdout,
            stderr=stderr,
        )


def _check_batch_formats(args: argparse.Namespace, input_format: str) -> None:
    """What the engine and formats asked for can be done: every problem at once."""
    problems = []
    if args.engine == "dask" and "jsonl" in (input_format, args.output_format):
        problems.append(Problem(file="--engine", message="expected Parquet with --engine dask, got jsonl"))
    if args.engine == "dask" and args.log_file:
        problems.append(Problem(file="--log-file", message="not kept with --engine dask; leave it out"))
    if args.input == "-" and input_format == "parquet":
        problems.append(Problem(file=STDIN_NAME, message="Parquet cannot be read from standard input; name the file"))
    if problems:
        raise _InputError(problems)


def _report_batch(
    args: argparse.Namespace,
    run: Callable[[Any], Any],
    *,
    total_bytes: int | None,
    total_rows: int | None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Run a batch (`run` takes the progress callback and returns the `Summary`) and report it: the
    summary and the exit code, or why nothing was written."""
    from .batch import Terminated, progress_bar, sigterm_raises  # noqa: PLC0415 - only this command needs it

    try:
        with sigterm_raises(), progress_bar(stderr, total_bytes=total_bytes, total_rows=total_rows) as on_chunk:
            summary = run(on_chunk)
    except (KeyboardInterrupt, Terminated) as stop:
        print(f"policy-engine: batch interrupted; {args.out} was not written", file=stderr)
        return EXIT_INTERRUPTED if isinstance(stop, KeyboardInterrupt) else EXIT_TERMINATED
    except OSError as error:
        print(f"policy-engine: batch: {error}; {args.out} was not written", file=stderr)
        return EXIT_INPUT
    if args.summary == "json":
        stdout.write(canonical_json(summary.to_dict()))
    else:
        stderr.write(summary.text())
    if args.fail_on_error and summary.errors:
        return EXIT_INPUT
    return _failed_check(args.fail_on, summary.by_status, stderr)


def _batch_on_dask(args: argparse.Namespace, options: Any, spec: Any, stdout: TextIO, stderr: TextIO) -> int:
    from .batch import worker_count  # noqa: PLC0415 - only this command needs it
    from .dask_batch import run_on_dask  # noqa: PLC0415 - dask is an optional extra

    return _report_batch(
        args,
        lambda on_part: run_on_dask(
            args.input,
            args.out,
            options=options,
            spec=spec,
            scheduler=args.scheduler,
            workers=worker_count(args.workers),
            partition_rows=args.partition_rows,
            chunk_size=args.chunk_size,
            on_part=on_part,
        ),
        total_bytes=None,
        total_rows=None,
        stdout=stdout,
        stderr=stderr,
    )


def _population(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from itertools import islice  # noqa: PLC0415 - only this command needs it

    from ._numbers import iso  # noqa: PLC0415 - only this command needs it
    from ._output import AtomicOutput  # noqa: PLC0415 - only this command needs it
    from .population import default_instant, population_kinds, population_lines  # noqa: PLC0415 - ditto

    engine = load(*_policy_paths(args))
    kinds = args.kind or population_kinds(engine)
    lines = population_lines(engine, args.count, seed=args.seed, kinds=kinds, as_of=args.as_of)
    as_of = args.as_of or iso(default_instant(engine, kinds))
    if args.out == "-":
        while chunk := "".join(islice(lines, 1000)):
            stdout.write(chunk)
    elif _batch_format(None, args.out) == "parquet":
        from ._extras import MissingExtra  # noqa: PLC0415 - only this branch needs it

        try:
            from .parquet import write_accounts  # noqa: PLC0415 - pyarrow is an optional extra
        except MissingExtra as missing:
            raise _missing_extra(missing, args.out) from None
        try:
            write_accounts(args.out, lines)
        except OSError as error:
            print(f"policy-engine: --out {args.out}: {error.strerror}", file=stderr)
            return EXIT_INPUT
    else:
        try:
            output = AtomicOutput(args.out)
        except OSError as error:
            print(f"policy-engine: --out {args.out}: {error.strerror}", file=stderr)
            return EXIT_INPUT
        with output:
            while chunk := "".join(islice(lines, 1000)):
                output.write(chunk.encode())
    where = "stdout" if args.out == "-" else args.out
    print(
        f"population: {args.count:,} accounts ({', '.join(kinds)}), seed {args.seed}, as of {as_of}, to {where}",
        file=stderr,
    )
    return EXIT_OK


def _add_pack_commands(commands: Any, out: TextIO) -> None:
    """The `test`, `init` and `schema` subcommands: policy tests, and what the installed package can write out."""
    test = commands.add_parser(
        "test",
        help="run the policy tests (*.test.yaml) against the policies beside them",
        description="Run policy tests: each case decides an account and checks the deciding rule and a subset of"
        " the outcome. Output like pytest's: a line per file with . or F per test (-v: PASS/FAIL per test),"
        " each failure as the test file's lines (-) over what the outcome has there (+), then N passed, M failed."
        f" Exit {EXIT_OK} when all pass, {EXIT_CHECK} when any fails, {EXIT_INPUT} for a bad test file or"
        f" -k selecting nothing, {EXIT_POLICY} for invalid policies.",
        out=out,
    )
    test.add_argument(
        "path",
        nargs="?",
        default=None,
        metavar="PATH",
        help="a test file or a folder searched for *.test.yaml, or - for one test file on standard input"
        " (default: policies)",
    )
    _policies_option(test)
    test.add_argument(
        "-k",
        dest="keyword",
        default=None,
        metavar="EXPR",
        help="run the tests whose id (FILE::NAME) contains these words, case-insensitive, combined with"
        " and, or, not and parentheses, as pytest's -k",
    )
    test.add_argument("-v", "--verbose", action="store_true", help="a PASS or FAIL line per test")
    test.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text, or json: one document on stdout. " + _FORMAT_HELP,
    )

    init = commands.add_parser(
        "init",
        help="write a starter pack: policies with their tests, JSON Schemas, example accounts",
        description="Write the bundled policy pack into DIR: policies/ (policies and their *.test.yaml tests),"
        " schemas/ (every JSON Schema, which the YAML files' $schema lines point at) and examples/ (accounts"
        " and a price path). Then, in DIR: policy-engine validate; policy-engine test;"
        " policy-engine evaluate examples/margin-a-regular.json --format text.",
        out=out,
    )
    init.add_argument(
        "folder", nargs="?", default=".", metavar="DIR", help="where to write the pack (created if missing)"
    )
    init.add_argument(
        "--force", action="store_true", help="overwrite files that exist (by default nothing is written then)"
    )

    schema = commands.add_parser(
        "schema",
        help="list the JSON Schemas, print one, or write them to a folder",
        description="Without NAME, list the schemas (or, with --out, write them all). With NAME, print that"
        " schema (or, with --out, write it). Names are the file names without .schema.json.",
        out=out,
    )
    schema.add_argument("name", nargs="?", default=None, metavar="NAME", help="a schema name, as the list shows it")
    schema.add_argument(
        "--out", default=None, metavar="DIR", help="write the schema files into DIR (created if missing; overwritten)"
    )


def _test_cases(args: argparse.Namespace, stdin: TextIO) -> tuple[list[Any], list[str]]:
    """The cases of the test files `test` was given, and the policy paths to run them against."""
    from .policy_tests import find_test_files, read_test_file  # noqa: PLC0415 - only this command needs it

    if args.path == "-":
        texts = [(STDIN_NAME, stdin.read().removeprefix("\ufeff"))]
        policies = _policy_paths(args)
    else:
        given = args.path or DEFAULT_POLICIES
        if args.path is None and not Path(DEFAULT_POLICIES).exists():
            raise PolicyError([_no_default_policies("a test file or folder, and --policies PATH")])
        files, problems = find_test_files([given])
        if problems:
            raise _InputError(problems)
        texts = [(str(file), _read_text(str(file), stdin, what="test file")) for file in files]
        # tests run against the policies beside them unless told otherwise
        policies = args.policies or [given if Path(given).is_dir() else str(Path(given).parent)]
        if "-" in policies:
            policies = _policy_paths(args)  # refused there, with the reason
    cases: list[Any] = []
    problems = []
    for file, text in texts:
        found, trouble = read_test_file(text, file=file)
        cases += found
        problems += trouble
    if problems:
        raise _InputError(problems)
    return cases, policies


def _test(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    from ._test_report import json_report, text_report  # noqa: PLC0415 - only this command needs it
    from .policy_tests import run_case, select  # noqa: PLC0415 - only this command needs it

    cases, policies = _test_cases(args, stdin)
    engine = load(*policies)
    try:
        selected, deselected = select(cases, args.keyword)
    except ValueError as error:
        raise _InputError([Problem(file="-k", message=str(error))]) from error
    if not selected:
        raise _InputError([Problem(file="-k", message=f"no test matches {args.keyword!r}; {deselected} deselected")])
    results = [run_case(engine, case) for case in selected]
    if args.format == "json":
        stdout.write(canonical_json(json_report(results, deselected=deselected), indent=2))
    else:
        stdout.write(text_report(results, verbose=args.verbose, deselected=deselected))
    return EXIT_OK if all(result.passed for result in results) else EXIT_CHECK


def _init(args: argparse.Namespace, stdout: TextIO) -> int:
    from .starter import existing, starter_pack, write_pack  # noqa: PLC0415 - only this command needs it

    folder = Path(args.folder)
    files = starter_pack(discovered())
    if not args.force and (clashes := existing(folder, files)):
        raise _InputError(clashes)
    try:
        written = write_pack(folder, files)
    except OSError as error:
        raise _InputError(
            [Problem(file=error.filename or str(folder), message=f"cannot write the pack: {error.strerror}")]
        ) from error
    for path in written:
        print(f"wrote {path}", file=stdout)
    go = "" if args.folder == "." else f"cd {args.folder} && "
    print(
        f"next: {go}policy-engine validate && policy-engine test"
        " && policy-engine evaluate examples/margin-a-regular.json --format text",
        file=stdout,
    )
    return EXIT_OK


def _schema(args: argparse.Namespace, stdout: TextIO) -> int:
    from .errors import did_you_mean  # noqa: PLC0415 - only this command needs it
    from .starter import schema_files  # noqa: PLC0415 - only this command needs it

    schemas = schema_files(discovered())
    if args.name is not None and args.name not in schemas:
        raise _InputError(
            [
                Problem(
                    file="schema",
                    message=f"no schema named `{args.name}`; expected one of {', '.join(schemas)}",
                    suggestion=did_you_mean(args.name, schemas),
                )
            ]
        )
    chosen = [schemas[args.name]] if args.name is not None else list(schemas.values())
    if args.out is not None:
        folder = Path(args.out)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for schema in chosen:
                (folder / schema.path.name).write_bytes(schema.path.read_bytes())
                print(f"wrote {folder / schema.path.name}", file=stdout)
        except OSError as error:
            raise _InputError(
                [Problem(file=error.filename or str(folder), message=f"cannot write the schema: {error.strerror}")]
            ) from error
    elif args.name is not None:
        stdout.write(chosen[0].path.read_text(encoding="utf-8"))
    else:
        width = max(len(name) for name in schemas)
        for schema in chosen:
            print(f"{schema.name:<{width}}  {schema.checks}", file=stdout)
    return EXIT_OK


def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    try:
        if args.command == "validate":
            return _validate(args, stdin, stdout)
        if args.command == "batch":
            return _batch(args, stdin, stdout, stderr)
        if args.command == "population":
            return _population(args, stdout, stderr)
        if args.command == "simulate":
            return _simulate(args, stdin, stdout, stderr)
        if args.command == "init":
            return _init(args, stdout)
        if args.command == "test":
            return _test(args, stdin, stdout)
        if args.command == "schema":
            return _schema(args, stdout)
        return _evaluate(args, stdin, stdout, stderr)
    except PolicyError as error:
        return _report(args, EXIT_POLICY, error.problems, stdout, stderr)
    except EvaluationError as error:  # the policies are valid; an expression failed on this input
        return _report(args, EXIT_EVALUATION, error.problems, stdout, stderr)
    except PolicyEngineError as error:  # the account, a price path, a file or an option's value
        return _report(args, EXIT_INPUT, error.problems, stdout, stderr)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args: argparse.Namespace | None = None
    try:
        try:
            args = _parser(stdout).parse_args(list(sys.argv[1:] if argv is None else argv))
        except _UsageError as error:  # the command line could not be read: text, whatever --format says
            print(error, file=stderr)
            return EXIT_INPUT
        except SystemExit as done:  # --help, --version
            return int(done.code or 0)
        return _run(args, stdin, stdout, stderr)
    except Exception as error:  # the last line of defence: a message, never a traceback
        message = f"internal error: {type(error).__name__}: {error}; please report it"
        if args is not None and _json_errors(args):
            return _report(args, EXIT_INTERNAL, [Problem(file="policy-engine", message=message)], stdout, stderr)
        print(f"policy-engine: {message}", file=stderr)
        return EXIT_INTERNAL


__all__ = ["main"]
