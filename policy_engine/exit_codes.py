"""The command line's exit codes, in one table: `policy-engine --help` prints it and a test holds the README to it."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_EVALUATION = 4
EXIT_CHECK = 5
EXIT_INTERRUPTED = 130  # the shell's code for a run stopped by SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # ... and by SIGTERM


@dataclass(frozen=True, kw_only=True, slots=True)
class ExitCode:
    """One exit code: its number, the short name JSON error documents carry as `error`, and what it means."""

    code: int
    name: str
    meaning: str


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(code=EXIT_OK, name="ok", meaning="done: valid, decided, written; every policy test passed"),
    ExitCode(code=EXIT_POLICY, name="policy", meaning="the policies are invalid or missing; nothing was decided"),
    ExitCode(
        code=EXIT_INPUT,
        name="input",
        meaning="the command line, an account, a price path, a test file or an output path is wrong"
        " (batch --fail-on-error: an error row)",
    ),
    ExitCode(code=EXIT_INTERNAL, name="internal", meaning="an unexpected failure (a bug), reported in one line"),
    ExitCode(
        code=EXIT_EVALUATION,
        name="evaluation",
        meaning="a policy expression failed on this input (a division by zero, say); the policies are valid",
    ),
    ExitCode(
        code=EXIT_CHECK, name="check", meaning="a decision has a status named by --fail-on, or a policy test failed"
    ),
    ExitCode(code=EXIT_INTERRUPTED, name="interrupted", meaning="batch stopped by SIGINT (Ctrl-C); nothing written"),
    ExitCode(code=EXIT_TERMINATED, name="terminated", meaning="batch stopped by SIGTERM; nothing written"),
)

NAMES: dict[int, str] = {exit_code.code: exit_code.name for exit_code in EXIT_CODES}


def exit_code_table(width: int = 79) -> str:
    """The table for `--help`: one entry per code, its meaning wrapped to `width` columns."""
    import textwrap  # noqa: PLC0415 - only --help needs it

    lines = []
    for exit_code in EXIT_CODES:
        head = f"  {exit_code.code:<4} {exit_code.name:<12} "
        lines += textwrap.wrap(
            exit_code.meaning, width, initial_indent=head, subsequent_indent=" " * len(head), break_on_hyphens=False
        )
    return "\n".join(lines)


__all__ = [
    "EXIT_CHECK",
    "EXIT_CODES",
    "EXIT_EVALUATION",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_POLICY",
    "EXIT_TERMINATED",
    "NAMES",
    "ExitCode",
    "exit_code_table",
]
