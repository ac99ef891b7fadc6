"""Expression attacks: escapes reported against simpleeval and peer expression languages, refused at load.

Every attack is written into a copy of the bundled margin policy, as a derived
figure or a rule condition, and `policy-engine validate` must exit 1 with
exactly the located problems listed here: file, line, column, JSON path and
message.  The catalogue runs in one `validate` (one policy holding every
attack), so that it stays fast; the hardening findings of issue 15 each have
a run of their own.

Sources (public reports, read for the attack, not copied):

- simpleeval: its security tests (tests/test_security.py: import, long-running
  powers, string length, shifts, function globals, mro, str.format) and the
  issues and advisories they answer: danthedeckie/simpleeval#15 (`__globals__`
  and `__subclasses__` walks), #46 (lambda application), #76 (comprehension
  targets), #122 (huge powers), #138 and #149 (escape through generator
  frames), #50 (`format_map`), #37 (f-strings, assignments), #100 (shifts),
  #199 (the `operator` module), GHSA-44vg-5wv2-h2hg / CVE-2026-32640 (module
  attribute chains and functions passed as callbacks).
- Python `eval` sandboxes: the `catch_warnings` walk from an empty
  `__builtins__` (stackoverflow.com/questions/38404298), NFKC-normalised
  identifiers that slip past text filters (saint2706/Coding-For-MBA#626,
  Zac-HD/hypothesmith#17), Trojan Source bidirectional characters
  (CVE-2021-42574; rust-lang/rust#90461, geldata/gel#3362).
- GoRules ZEN: stack overflow on deep or long expressions (gorules/zen#116,
  #338, #357); its closure placeholder `#`, ranges and templates.
- CEL: comprehension macros and their cost (cert-manager/approver-policy#923),
  parser blow-up on `!!(` runs (cel-rust/cel-rust#306), a size limit checked
  before parsing (cel-expr/cel-go#1302), string functions (cel-expr/cel-go#1304).
- OPA Rego: `http.send` and `opa.runtime()` in untrusted policies, and the
  `with` keyword replacing a built-in (GHSA-f524-rf33-2jjr,
  open-policy-agent/opa#3665).
- Jexl and kin: `constructor` and `__proto__` through brackets or bare names
  (TomFrost/Jexl#142, #92, dy/subscript#40).
- EvalEx: unbounded `FACT` and user regexes (ezylang/EvalEx#570); asteval: a
  megabyte of `()` (lmfit/asteval#100) and `__mro__` walks (lmfit/asteval#32).
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_engine import Engine
from policy_engine._expressions import ExprType, name_refusal
from policy_engine.cli import main
from policy_engine.products.margin import ENGINE_VALUES, INPUT_SCOPE

from .conftest import AS_OF, POLICIES, example, margin_account

BUNDLED = (POLICIES / "margin-trading.yaml").read_text()
BUNDLED_DERIVED = """derived:
  - name: net_equity_value
    expression: total_asset_value - total_liability_value
"""
BUNDLED_RULE = "    when: margin_level <= liquidation_level\n"
ONLY_BUILTINS = (
    "only the built-in functions can be called: abs, ceil, floor, max, min, round, round_down,"
    " round_half_even, round_half_up, round_up"
)
ATTRIBUTE = "attribute access (`a.b`) is not allowed"
SUBSCRIPT = "subscripts (`a[b]`) are not allowed"
NESTED = "the expression is nested more than 40 levels deep"
NESTED_POWER = "powers cannot be nested: the base of `**` may not contain `**`"
NOT_ASCII = "names are written in ASCII letters, digits and `_`: `{}` holds {}"
HIDDEN = (
    "character {} of the expression is {}, an invisible control or formatting character;"
    " expressions are written in printable characters"
)


def fullwidth(text: str) -> str:
    """`text` with its ASCII letters in their fullwidth forms (U+FF21...), which NFKC maps back."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in text)


def yaml_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar: controls, invisible and surrogate characters as escapes."""
    parts = []
    for character in text:
        if character in '"\\':
            parts.append("\\" + character)
        elif unicodedata.category(character) in ("Cc", "Cf", "Cs"):
            parts.append(f"\\u{ord(character):04X}")
        else:
            parts.append(character)
    return '"' + "".join(parts) + '"'


def validate(folder: Path, policy: str) -> tuple[int, str, Path]:
    """Write `policy` as the folder's only margin policy, run `policy-engine validate` on it in-process."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "margin-trading.yaml"
    path.write_text(policy, encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["validate", str(path)], stdout=stdout, stderr=stderr)
    output = stderr.getvalue()
    output.encode("utf-8")  # what the CLI prints must be writable to a UTF-8 terminal or file
    return code, output, path


def line_of(text: str, needle: str) -> tuple[int, int]:
    """(1-based line, 1-based column) of the first occurrence of `needle` in `text`."""
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# --- the hardening findings of issue 15, each in its own run ------------------------------


def test_a_comment_in_a_condition_is_refused_at_the_hash(tmp_path: Path) -> None:
    """The issue's `margin_level <= liquidation_level # and leverage > 100` validated and ran half of what it shows."""
    condition = "margin_level <= liquidation_level # and leverage > 100"
    policy = BUNDLED.replace(BUNDLED_RULE, f"    when: {yaml_quoted(condition)}\n")
    code, output, path = validate(tmp_path, policy)
    line, col = line_of(policy, yaml_quoted(condition))
    assert (code, output) == (
        1,
        f"{path}:{line}:{col}: $.rules[0].when: at column 35 of `{condition}`: comments are not allowed in"
        " expressions: `# and leverage > 100` would be ignored when evaluating, yet shown as part of the"
        " expression; write notes as YAML comments\n1 problem found\n",
    )


def test_a_fullwidth_name_is_refused_naming_the_character_and_the_ascii_name(tmp_path: Path) -> None:
    """`margin_level` in fullwidth letters ran as `margin_level` (NFKC); now refused, suggesting the ASCII name."""
    lookalike = fullwidth("margin") + "_" + fullwidth("level")
    condition = f"{lookalike} <= liquidation_level"
    policy = BUNDLED.replace(BUNDLED_RULE, f"    when: {condition}\n")
    code, output, path = validate(tmp_path, policy)
    line, col = line_of(policy, condition)
    assert (code, output) == (
        1,
        f"{path}:{line}:{col}: $.rules[0].when: at column 1 of `{condition}`: "
        + NOT_ASCII.format(lookalike, "U+FF4D FULLWIDTH LATIN SMALL LETTER M")
        + "; did you mean `margin_level`?\n1 problem found\n",
    )


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_a_lone_surrogate_is_a_located_policy_problem(tmp_path: Path, output_format: str) -> None:
    """A `\\uD800` escape in YAML gave an unlocated UnicodeEncodeError; now exit 1, located, printable output."""
    condition = "margin_level <= liquidation_level and mode != '\ud800'"
    policy = BUNDLED.replace(BUNDLED_RULE, f"    when: {yaml_quoted(condition)}\n")
    path = tmp_path / "margin-trading.yaml"
    path.write_text(policy, encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["validate", str(path), "--format", output_format], stdout=stdout, stderr=stderr)
    line, col = line_of(policy, yaml_quoted(condition))
    message = (
        "character 48 of the expression is U+D800, a lone surrogate (half of a UTF-16 pair, not a character);"
        " expressions are written in printable characters"
    )
    (stdout.getvalue() + stderr.getvalue()).encode("utf-8")
    if output_format == "text":
        assert (code, stderr.getvalue()) == (1, f"{path}:{line}:{col}: $.rules[0].when: {message}\n1 problem found\n")
    else:
        assert (code, json.loads(stdout.getvalue())) == (
            1,
            {
                "valid": False,
                "error": "policy",  # the JSON error document every command writes (README: JSON problems)
                "exit_code": 1,
                "problems": [
                    {
                        "file": str(path),
                        "line": line,
                        "col": col,
                        "json_path": "$.rules[0].when",
                        "message": message,
                        "suggestion": None,
                    }
                ],
            },
        )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("asset_lines", "`asset_lines` is one of the engine's own values; pick another name"),
        ("liability_lines", "`liability_lines` is one of the engine's own values; pick another name"),
        ("liquidation", "`liquidation` is one of the engine's own values; pick another name"),
        (
            "margin_level_raw",
            "`margin_level_raw` is the engine's raw (unrounded) value of `margin_level`, shown in traces;"
            " pick another name",
        ),
        ("margin_level", "`margin_level` is already defined; pick another name"),
        (
            "min",
            "`min` is a word of the expression language and could not be read as a value; pick another name",
        ),
        (
            "lambda",
            "`lambda` is a word of the expression language and could not be read as a value; pick another name",
        ),
    ],
    ids=["asset-lines", "liability-lines", "liquidation-plan", "raw-margin-level", "input-name", "function",
         "keyword"],
)
def test_a_derived_figure_cannot_take_a_name_of_the_engine(tmp_path: Path, name: str, message: str) -> None:
    """`asset_lines` broke every evaluation and `margin_level_raw` falsified the trace: both are refused at load."""
    policy = BUNDLED.replace("  - name: net_equity_value\n", f"  - name: {name}\n")
    code, output, path = validate(tmp_path, policy)
    line, col = line_of(policy, f"  - name: {name}\n")
    assert (code, output) == (1, f"{path}:{line}:{col + 10}: $.derived[0].name: {message}\n1 problem found\n")


def test_every_value_the_margin_product_keeps_is_declared(engine: Engine) -> None:
    """The names `evaluate` puts beside the expression names are the ones the product reserves.

    Regular, takeover and mixed liquidations (the domain doc's examples A, B,
    C) and an account without debt together write every value; a new one that
    is not declared in `ENGINE_VALUES` would let a derived figure overwrite it.
    """
    accounts = [
        example("margin-a-regular.json"),
        example("margin-b-takeover.json"),
        example("margin-c-regular-then-takeover.json"),
        margin_account(assets=[("BTC", "1", "50000")], debt="0"),
    ]
    written: set[str] = set()
    for account in accounts:
        written |= set(engine.evaluate(account, as_of=AS_OF).trace.env)
    derived = {"net_equity_value"}  # the bundled policy's one derived figure
    raw = {"margin_level_raw", "collateral_margin_level_raw"}  # reserved as the raw names of rounded ones
    assert written - set(INPUT_SCOPE) - derived == {*ENGINE_VALUES, *raw}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("net_equity", None),
        ("leverage", "`leverage` is already defined; pick another name"),
        ("lines", None),
        ("ltv_raw", "`ltv_raw` is the engine's raw (unrounded) value of `ltv`, shown in traces; pick another name"),
        ("leverage_raw", None),
        ("lambda", "`lambda` is a word of the expression language and could not be read as a value;"
                   " pick another name"),
        ("round_down", "`round_down` is a word of the expression language and could not be read as a value;"
                       " pick another name"),
    ],
    ids=["free", "in-scope", "not-reserved", "raw-of-a-rounded-name", "raw-of-an-unrounded-name", "keyword",
         "rounding-function"],
)
def test_name_refusal_reads_scope_reserved_and_rounded_names(name: str, expected: str | None) -> None:
    """Only the names the product declares are refused: the scope, its reserved values, the raws of rounded names."""
    scope = {"leverage": ExprType.DECIMAL, "ltv": ExprType.DECIMAL}
    assert name_refusal(name, scope, reserved={"asset_lines"}, rounded={"ltv"}) == expected


# --- the catalogue: one policy holding every attack, one validate run --------------------


@dataclass(frozen=True, slots=True)
class Attack:
    id: str
    source: str
    """The expression, written as a derived figure."""
    problems: tuple[tuple[int, str, str | None], ...]
    """(column in the expression or 0, message, suggestion) of each problem expected."""


def _one(column: int, message: str, suggestion: str | None = None) -> tuple[tuple[int, str, str | None], ...]:
    return ((column, message, suggestion),)


CATALOGUE = (
    # simpleeval
    Attack("simpleeval-import", "__import__('os').system('id')", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-subclasses", "True.__class__.__class__.__base__.__subclasses__()", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-function-globals", "min.__globals__", _one(1, ATTRIBUTE)),
    Attack("simpleeval-str-format", "'{0.__class__}'.format(mode)", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-format-map", "'{a.__class__}'.format_map(mode)", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-f-string", "f'{mode.__class__}'", _one(1, "f-strings are not allowed")),
    Attack("simpleeval-generator-frame", "(x for x in (1,)).gi_frame.f_globals", _one(1, ATTRIBUTE)),
    Attack("simpleeval-mro", "mode.mro()", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-power-tower", "9 ** 9 ** 9", _one(1, "`**` needs a whole-number literal exponent from 0 to 64")),
    Attack("simpleeval-huge-power", "100000 ** 100000",
           _one(1, "`**` needs a whole-number literal exponent from 0 to 64")),
    Attack("nested-powers", "((9 ** 9) ** 64) ** 64",
           ((1, NESTED_POWER, None), (2, NESTED_POWER, None))),
    Attack("simpleeval-string-repeat", "'text' * 50000", _one(1, "`*` takes decimals: expected decimal, got string")),
    Attack("simpleeval-shift", "1 << 25000",
           _one(1, "operator `<<` is not allowed; use + - * / or ** (rounding: round_down, ...)")),
    Attack("simpleeval-lambda-application", "(lambda x: x)(leverage)", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-comprehension-target", "[x for x in ((1,),) for x[0] in (15,)]",
           _one(1, "comprehensions are not allowed")),
    Attack("simpleeval-module-chain", "leverage.os.popen('id').read()", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-callback", "max(leverage, margin_level, key=__import__)",
           _one(1, "`max` takes no keyword arguments")),
    Attack("simpleeval-operator-module", "attrgetter('__class__')(mode)", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-encode-bignum", "(1).from_bytes('123'.encode() * 999999, 'big')", _one(1, ONLY_BUILTINS)),
    Attack("simpleeval-assignment", "(y := leverage) * y",
           ((2, "assignment expressions (`:=`) are not allowed", None), (19, "unknown name `y`", None))),
    Attack("starred", "max(*leverage, *margin_level)",
           ((5, "starred arguments are not allowed", None), (16, "starred arguments are not allowed", None))),
    # Python eval sandboxes
    Attack("eval-catch-warnings",
           "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
           "._module.__builtins__", _one(1, ATTRIBUTE)),
    Attack("eval-builtins", "__builtins__", _one(1, "names starting with `_` are not allowed: `__builtins__`")),
    Attack("nfkc-function", fullwidth("eval") + "('1')",
           _one(1, NOT_ASCII.format(fullwidth("eval"), "U+FF45 FULLWIDTH LATIN SMALL LETTER E"))),
    Attack("nfkc-mathematical-letter", "\U0001d558lobals()",
           _one(1, NOT_ASCII.format("\U0001d558lobals", "U+1D558 MATHEMATICAL DOUBLE-STRUCK SMALL G"))),
    Attack("nfkc-literal", f"leverage if {fullwidth('True')} else 0",
           _one(13, NOT_ASCII.format(fullwidth("True"), "U+FF34 FULLWIDTH LATIN CAPITAL LETTER T"), "True")),
    Attack("nfkc-name", fullwidth("margin") + "_" + fullwidth("level") + " * 2",
           _one(1, NOT_ASCII.format(fullwidth("margin") + "_" + fullwidth("level"),
                                    "U+FF4D FULLWIDTH LATIN SMALL LETTER M"), "margin_level")),
    Attack("nfkc-ligature", "leverage * \ufb01",
           _one(12, NOT_ASCII.format("\ufb01", "U+FB01 LATIN SMALL LIGATURE FI"))),
    Attack("comment", "margin_level # * 1000",
           _one(14, "comments are not allowed in expressions: `# * 1000` would be ignored when evaluating,"
                    " yet shown as part of the expression; write notes as YAML comments")),
    Attack("trojan-source", "leverage if mode == 'isolated\u202e' else 0",
           _one(0, HIDDEN.format(30, "U+202E RIGHT-TO-LEFT OVERRIDE"))),
    Attack("zero-width-space", "leverage\u200b * 2", _one(0, HIDDEN.format(9, "U+200B ZERO WIDTH SPACE"))),
    Attack("nul", "leverage\x00 * 2", _one(0, HIDDEN.format(9, "U+0000"))),
    Attack("lone-surrogate", "leverage if mode == '\ud800' else 0",
           _one(0, "character 22 of the expression is U+D800, a lone surrogate (half of a UTF-16 pair, not a"
                   " character); expressions are written in printable characters")),
    # GoRules ZEN
    Attack("zen-deep-parentheses", "(" * 201 + "leverage" + ")" * 201,
           _one(201, "invalid expression: too many nested parentheses")),
    Attack("zen-long-chain", " + ".join(["leverage"] * 60), ((1, NESTED, None), (210, NESTED, None))),
    Attack("zen-closure", "sum(map([1, 2], # * leverage))", _one(8, "invalid expression: '(' was never closed")),
    Attack("zen-range", "leverage in [1..10]",
           _one(14, "invalid expression: invalid syntax. Perhaps you forgot a comma?")),
    Attack("zen-template", "`${mode}`", _one(1, "invalid expression: invalid syntax")),
    # CEL
    Attack("cel-macro", "[1, 2].all(x, x > 0)", _one(1, ONLY_BUILTINS)),
    Attack("cel-parser-blow-up", "!!(!!!!!!(!!!!(((((!!(!!(!!!!((1", _one(1, "invalid expression: invalid syntax")),
    Attack("cel-size-limit", "1" + " + 1" * 500, _one(0, "expressions are limited to 2000 characters")),
    Attack("cel-string-function", "mode.replace('a', 'b')", _one(1, ONLY_BUILTINS)),
    # OPA Rego
    Attack("rego-http-send", "http.send({'method': 'get', 'url': 'https://example.invalid'})", _one(1, ONLY_BUILTINS)),
    Attack("rego-runtime-env", "opa.runtime().env", _one(1, ATTRIBUTE)),
    Attack("rego-clock", "time.now_ns()", _one(1, ONLY_BUILTINS)),
    # Jexl and JavaScript kin
    Attack("jexl-bracket-constructor", "mode['constructor']", _one(1, SUBSCRIPT)),
    Attack("jexl-proto", "mode.lower['__proto__']", _one(1, SUBSCRIPT)),
    Attack("js-bare-constructor", "constructor", _one(1, "unknown name `constructor`")),
    # EvalEx, asteval
    Attack("evalex-factorial", "fact(100000)", _one(1, "unknown function `fact`")),
    Attack("evalex-user-regex", "str_matches(mode, '(a+)+$')", _one(1, "unknown function `str_matches`")),
    Attack("asteval-megabyte-of-parentheses", "()" * 1001, _one(0, "expressions are limited to 2000 characters")),
    Attack("asteval-mro", "str.__mro__[1]", _one(1, SUBSCRIPT)),
)


@dataclass(frozen=True, slots=True)
class CatalogueRun:
    code: int
    lines: tuple[str, ...]
    path: Path
    policy: str


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory: pytest.TempPathFactory) -> CatalogueRun:
    """The bundled margin policy with every attack as a derived figure, validated once."""
    entries = "".join(
        f"  - name: attack_{index}\n    expression: {yaml_quoted(attack.source)}\n"
        for index, attack in enumerate(CATALOGUE)
    )
    assert BUNDLED_DERIVED in BUNDLED
    policy = BUNDLED.replace(BUNDLED_DERIVED, "derived:\n" + entries)
    code, output, path = validate(tmp_path_factory.mktemp("catalogue"), policy)
    return CatalogueRun(code, tuple(output.splitlines()), path, policy)


def _expected_lines(run: CatalogueRun, index: int) -> list[str]:
    """The lines `validate` prints for attack `index`, in its order: by position, then by message text."""
    attack = CATALOGUE[index]
    quoted = yaml_quoted(attack.source)
    line, col = line_of(run.policy, f"expression: {quoted}\n")
    lines = []
    for column, message, suggestion in attack.problems:
        where = f"at column {column} of `{attack.source}`: " if column else ""
        hint = f"; did you mean `{suggestion}`?" if suggestion else ""
        lines.append(f"{run.path}:{line}:{col + 12}: $.derived[{index}].expression: {where}{message}{hint}")
    return sorted(lines)


@pytest.mark.parametrize("index", range(len(CATALOGUE)), ids=[attack.id for attack in CATALOGUE])
def test_each_attack_is_refused_at_its_line_and_path(catalogue_run: CatalogueRun, index: int) -> None:
    """`validate` exits 1 and reports exactly this attack's problems at its file, line, column and JSON path."""
    mine = [line for line in catalogue_run.lines if re.search(rf": \$\.derived\[{index}\]\.", line)]
    assert (catalogue_run.code, mine) == (1, _expected_lines(catalogue_run, index))


def test_the_catalogue_run_reports_nothing_else(catalogue_run: CatalogueRun) -> None:
    """Every problem printed belongs to an attack, and the count line adds them up."""
    expected = [line for index in range(len(CATALOGUE)) for line in _expected_lines(catalogue_run, index)]
    count = len(expected)
    assert catalogue_run.lines == (*expected, f"{count} problems found")

