"""The `policy-engine` command line.

Exit codes: 0 success; 1 the policies are invalid (or a policy expression
failed); 2 the command, the account or the price path is wrong; 3 an
internal error (a bug).  Errors go to stderr, never as a traceback;
decisions and reports go to stdout; decision log lines only to `--log-file`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .accounts import parse_account
from .decision import canonical_json
from .decision_log import DecisionLog
from .engine import load
from .errors import AccountError, PolicyEngineError, PolicyError, Problem
from .explain import explain
from .registry import discovered
from .simulate import read_price_path, simulate, timeline_text

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK, EXIT_POLICY, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, and prints help to the stream `main` was given, not `sys.stdout`."""

    def __init__(self, *args: Any, out: TextIO | None = None, **kwargs: Any) -> None:
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


def _parser(out: TextIO) -> argparse.ArgumentParser:
    parser = _Parser(prog="policy-engine", description="Risk rules as versioned YAML: validate and evaluate.", out=out)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="check policy files; exit 1 listing every problem", out=out)
    validate.add_argument("paths", nargs="*", default=["policies"], help="policy files or folders (default: policies)")
    validate.add_argument("--format", choices=("text", "json"), default="text")

    evaluate = commands.add_parser("evaluate", help="decide for one account and explain why", out=out)
    evaluate.add_argument("account", help="account file (JSON or YAML), or - for standard input")
    evaluate.add_argument(
        "--policies",
        action="append",
        default=None,
        metavar="PATH",
        help="policy folder or file (repeatable; default: policies)",
    )
    evaluate.add_argument(
        "--as-of",
        default=None,
        metavar="ISO-8601",
        help="evaluate under the policy version in force at this instant (default: now)",
    )
    evaluate.add_argument("--format", choices=("json", "text"), default="json")
    evaluate.add_argument(
        "--log-file", default=None, metavar="PATH", help="append one JSON line per decision to this file"
    )
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
        "--prices", required=True, metavar="PATH", help="price path: CSV or JSON Lines of timestamp, asset, price"
    )
    simulate.add_argument(
        "--policies", action="append", default=None, metavar="PATH", help="policy folder or file (default: policies)"
    )
    simulate.add_argument("--format", choices=("json", "text"), default="text")
    return parser


def _print_problems(problems: Sequence[Problem], stderr: TextIO) -> None:
    for problem in problems:
        print(problem, file=stderr)
    count = len(problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=stderr)


def _validate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    try:
        engine = load(*args.paths)
    except PolicyError as error:
        if args.format == "json":
            stdout.write(canonical_json({"valid": False, "problems": [p.to_dict() for p in error.problems]}, indent=2))
        else:
            _print_problems(error.problems, stderr)
        return EXIT_POLICY
    refs = engine.policies
    if args.format == "json":
        stdout.write(canonical_json({"valid": True, "policies": [ref.to_dict() for ref in refs]}, indent=2))
    else:
        for ref in refs:
            print(
                f"ok  {ref.file}  {ref.kind} {ref.id} v{ref.version} from {ref.effective_from.date().isoformat()}",
                file=stdout,
            )
    return EXIT_OK


def _read_text(name: str, stdin: TextIO, *, what: str = "account") -> str:
    """A file's text, or stdin's for `-`; a byte-order mark is dropped."""
    if name == "-":
        return stdin.read().removeprefix("\ufeff")
    try:
        return Path(name).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise AccountError([Problem(file=name, message=f"cannot read the {what}: {error.strerror}")]) from error
    except UnicodeDecodeError as error:
        raise AccountError([Problem(file=name, message=f"the {what} is not UTF-8 text")]) from error


def _read_account(name: str, stdin: TextIO) -> tuple[Any, str]:
    """The parsed account and the name errors cite for it."""
    source = "<stdin>" if name == "-" else name
    text = _read_text(name, stdin)
    yaml = None if name == "-" else Path(name).suffix.lower() in (".yaml", ".yml")
    return parse_account(text, source=source, yaml=yaml), source


def _evaluate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    try:
        log = DecisionLog(args.log_file) if args.log_file else None
    except OSError as error:
        print(f"policy-engine: --log-file {args.log_file}: {error.strerror}", file=stderr)
        return EXIT_INPUT
    with load(*(args.policies or ["policies"]), decision_log=log) as engine:
        account, source = _read_account(args.account, stdin)
        decision = engine.evaluate(account, as_of=args.as_of, source=source, operations=args.operations)
        product = engine.product_for(decision.account)
    if args.format == "json":
        stdout.write(decision.to_json(indent=2))
    else:
        stdout.write(explain(json.loads(decision.to_json()), product))
    return EXIT_OK


def _simulate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    engine = load(*(args.policies or ["policies"]))
    if args.account == "-" and args.prices == "-":
        raise AccountError([Problem(file="--prices", message="the account and the price path cannot both be stdin")])
    account, source = _read_account(args.account, stdin)
    path = read_price_path(_read_text(args.prices, stdin, what="price path"), source=args.prices)
    timeline = simulate(engine, account, path, source=source)
    stdout.write(
        canonical_json(timeline, indent=2)
        if args.format == "json"
        else timeline_text(json.loads(canonical_json(timeline)))
    )
    return EXIT_OK


def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    try:
        if args.command == "validate":
            return _validate(args, stdout, stderr)
        if args.command == "simulate":
            return _simulate(args, stdin, stdout)
        return _evaluate(args, stdin, stdout, stderr)
    except PolicyError as error:
        _print_problems(error.problems, stderr)
        return EXIT_POLICY
    except AccountError as error:
        _print_problems(error.problems, stderr)
        return EXIT_INPUT
    except PolicyEngineError as error:  # an evaluation error: a policy expression failed
        _print_problems(error.problems, stderr)
        return EXIT_POLICY


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
    try:
        try:
            args = _parser(stdout).parse_args(list(sys.argv[1:] if argv is None else argv))
        except _UsageError as error:
            print(error, file=stderr)
            return EXIT_INPUT
        except SystemExit as done:  # --help
            return int(done.code or 0)
        return _run(args, stdin, stdout, stderr)
    except Exception as error:  # the last line of defence: a message, never a traceback
        print(f"policy-engine: internal error: {type(error).__name__}: {error}; please report it", file=stderr)
        return EXIT_INTERNAL


__all__ = ["main"]
