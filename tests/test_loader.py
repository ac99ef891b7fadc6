"""Tests for `policy_engine.loader.parse_yaml`: safe YAML with Decimal numbers and marks."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from policy_engine.errors import Problem
from policy_engine.loader import DEFAULT_MAX_ALIAS_NODES, parse_yaml
from policy_engine.model import Mark, YamlDocument

FILE = "policy.yaml"


def load(text: str, *, max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES) -> YamlDocument:
    """Parse `text`, failing the test if it has problems."""
    document, problems = parse_yaml(text, file=FILE, max_alias_nodes=max_alias_nodes)
    assert problems == []
    assert document is not None
    return document


def refuse(text: str, *, max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES) -> list[str]:
    """Parse `text`, expecting it to be refused; return the rendered problems."""
    document, problems = parse_yaml(text, file=FILE, max_alias_nodes=max_alias_nodes)
    assert document is None
    assert problems != []
    return [str(problem) for problem in problems]


# --- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-3", Decimal("0.001")),
        (".5", Decimal("0.5")),
        ("-3", Decimal(-3)),
        ("1.", Decimal(1)),
        ("42", Decimal(42)),
        ("0", Decimal(0)),
        ("+7", Decimal(7)),
        ("-0.25", Decimal("-0.25")),
        ("1E3", Decimal(1000)),
        ("0.1", Decimal("0.1")),
        ("123456789012345678901234567890.5", Decimal("123456789012345678901234567890.5")),
    ],
    ids=["exponent", "leading-dot", "negative-int", "trailing-dot", "int", "zero", "plus-sign",
         "negative-fraction", "capital-exponent", "one-tenth", "more-digits-than-a-float"],
)
def test_numbers_are_decimals(text: str, expected: Decimal) -> None:
    """Every plain number, int or not, is read as the exact Decimal of its text, never a float."""
    data = load(f"a: {text}\n").data
    assert data == {"a": expected}
    assert type(data["a"]) is Decimal
    assert str(data["a"]) == str(Decimal(text))


def test_numbers_inside_lists_and_nested_mappings_are_decimals() -> None:
    """Decimal reading applies at every depth, not only to top-level values."""
    data = load("rates:\n  - 0.1\n  - {cap: 2}\n").data
    assert data == {"rates": [Decimal("0.1"), {"cap": Decimal(2)}]}
    assert [type(value) for value in (data["rates"][0], data["rates"][1]["cap"])] == [Decimal] * 2


def test_a_document_of_one_number_is_a_decimal() -> None:
    """A bare scalar document is resolved like a value."""
    assert load("5\n").data == Decimal(5)


@pytest.mark.parametrize(
    "text",
    [".nan", ".NaN", ".inf", "-.inf", "+.inf", ".Inf"],
    ids=["nan", "NaN", "inf", "minus-inf", "plus-inf", "Inf"],
)
def test_non_finite_numbers_are_refused(text: str) -> None:
    """`.nan` and the infinities are refused where they stand."""
    assert refuse(f"a: {text}\n") == [
        f"{FILE}:1:4: $.a: `{text}` is not a finite number; policies need finite decimals"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0x1F", "0x1F"), ("0o17", "0o17"), ("1_000", "1_000"), ("1:30", "1:30")],
    ids=["hexadecimal", "octal-0o", "underscored", "sexagesimal"],
)
def test_yaml11_number_forms_stay_strings(text: str, expected: str) -> None:
    """Hexadecimal, octal, underscored and sexagesimal forms are not numbers."""
    assert load(f"a: {text}\n").data == {"a": expected}


@pytest.mark.parametrize(
    "text", ["010", "-010", "00", "007.5"], ids=["octal-010", "negative-010", "double-zero", "padded-fraction"]
)
def test_leading_zero_numbers_stay_strings(text: str) -> None:
    """`010` (octal 8 in YAML 1.1, 10 in YAML 1.2) and other zero-padded forms are not guessed."""
    assert load(f"a: {text}\n").data == {"a": text}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", Decimal(0)), ("-0", Decimal("-0")), ("0.5", Decimal("0.5")), ("0e3", Decimal("0E+3"))],
    ids=["zero", "negative-zero", "zero-point-five", "zero-exponent"],
)
def test_a_single_leading_zero_is_still_a_number(text: str, expected: Decimal) -> None:
    """Zero itself and `0.x` fractions remain decimals."""
    data = load(f"a: {text}\n").data
    assert (data, str(data["a"])) == ({"a": expected}, str(expected))


@pytest.mark.parametrize("tag", ["!!int", "!!float"])
def test_explicit_number_tag_does_not_read_leading_zero_octal_as_ten(tag: str) -> None:
    """`!!int 010` is refused, not silently read as 10 (YAML 1.1 reads it as octal 8)."""
    assert refuse(f"a: {tag} 010\n") == [
        f"{FILE}:1:4: $.a: `010` is not a decimal number (no leading zeros, no 0x, 0o or _)"
    ]


# --- booleans, strings, null -------------------------------------------------------------


@pytest.mark.parametrize("word", ["no", "on", "yes", "off", "No", "YES", "Off", "ON"])
def test_yaml11_boolean_words_are_refused(word: str) -> None:
    """Unquoted `yes/no/on/off` are refused, with a message saying how to write either meaning."""
    assert refuse(f"country: {word}\n") == [
        f"{FILE}:1:10: $.country: `{word}` is a boolean in YAML 1.1 and a string in YAML 1.2;"
        f' write "{word}" (quoted) for a string, or true/false'
    ]


def test_every_ambiguous_boolean_is_reported_not_just_the_first() -> None:
    """Each ambiguous word gets its own problem, at its own line."""
    assert refuse("a: no\nb: 'fine'\nc: on\n") == [
        f'{FILE}:1:4: $.a: `no` is a boolean in YAML 1.1 and a string in YAML 1.2;'
        ' write "no" (quoted) for a string, or true/false',
        f'{FILE}:3:4: $.c: `on` is a boolean in YAML 1.1 and a string in YAML 1.2;'
        ' write "on" (quoted) for a string, or true/false',
    ]


def test_quoted_yaml11_words_are_strings_and_true_false_are_booleans() -> None:
    """Quoting keeps `no`/`on` as strings; `true`/`false` in any accepted case are booleans."""
    text = "a: 'no'\nb: \"on\"\nc: true\nd: false\ne: True\nf: FALSE\ng: y\nh: n\n"
    assert load(text).data == {
        "a": "no", "b": "on", "c": True, "d": False, "e": True, "f": False, "g": "y", "h": "n",
    }


def test_null_forms_are_none() -> None:
    """`~`, `null` and an empty value are None."""
    assert load("a: ~\nb: null\nc:\n").data == {"a": None, "b": None, "c": None}


@pytest.mark.parametrize(
    "text",
    ["2026-01-01", "2026-01-01T08:00:00Z", "2026-01-01 08:00:00"],
    ids=["date", "date-time-z", "date-time-space"],
)
def test_dates_and_times_stay_strings(text: str) -> None:
    """Dates and timestamps are not converted to datetime objects."""
    assert load(f"effective_from: {text}\n").data == {"effective_from": text}


def test_quoted_numbers_stay_strings() -> None:
    """A quoted number is the string of its digits."""
    assert load("a: '1.5'\nb: \"3\"\n").data == {"a": "1.5", "b": "3"}


@pytest.mark.parametrize("word", ["yes", "maybe", "1"], ids=["yes", "maybe", "one"])
def test_explicit_bool_tag_on_a_non_boolean_word_is_refused(word: str) -> None:
    """`!!bool` on anything but true/false is refused at the value, never guessed as False."""
    assert refuse(f"a: !!bool {word}\n") == [f"{FILE}:1:4: $.a: `{word}` is not a boolean; write true or false"]


def test_explicit_bool_tag_on_true_is_a_boolean() -> None:
    """`!!bool TRUE` is the boolean it spells."""
    assert load("a: !!bool TRUE\nb: !!bool false\n").data == {"a": True, "b": False}


def test_explicit_null_tag_on_a_word_is_refused() -> None:
    """`!!null foo` is refused at the value instead of dropping `foo` for None."""
    assert refuse("a: !!null foo\n") == [f"{FILE}:1:4: $.a: `foo` is not null; write null or ~"]


def test_explicit_null_tag_on_a_null_form_is_none() -> None:
    """`!!null ~` and `!!null null` are None."""
    assert load("a: !!null ~\nb: !!null null\n").data == {"a": None, "b": None}


# --- keys ------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_naming_the_first_line() -> None:
    """A repeated key is refused at the repeat, and the message names the line of the first."""
    assert refuse("a: 1\nb: 2\na: 3\n") == [
        f"{FILE}:3:1: $.a: duplicate key `a` (first defined on line 1)"
    ]


def test_each_repeat_of_a_key_is_reported() -> None:
    """A key given three times is two problems, both pointing to the first definition."""
    assert refuse("x:\n  k: 1\n  k: 2\n  k: 3\n") == [
        f"{FILE}:3:3: $.x.k: duplicate key `k` (first defined on line 2)",
        f"{FILE}:4:3: $.x.k: duplicate key `k` (first defined on line 2)",
    ]


def test_same_key_in_different_mappings_is_not_a_duplicate() -> None:
    """Duplicates are per mapping."""
    assert load("a: {k: 1}\nb: {k: 2}\n").data == {"a": {"k": Decimal(1)}, "b": {"k": Decimal(2)}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1: x\n", f"{FILE}:1:1: $: mapping keys must be strings, got `1`"),
        ("null: x\n", f"{FILE}:1:1: $: mapping keys must be strings, got `null`"),
        ("true: x\n", f"{FILE}:1:1: $: mapping keys must be strings, got `true`"),
        ("a:\n  2.5: x\n", f"{FILE}:2:3: $.a: mapping keys must be strings, got `2.5`"),
        ("? [a]\n: x\n", f"{FILE}:1:3: $: mapping keys must be strings, got `a sequence`"),
        ("? {a: b}\n: x\n", f"{FILE}:1:3: $: mapping keys must be strings, got `a mapping`"),
    ],
    ids=["int", "null", "bool", "nested-float", "sequence", "mapping"],
)
def test_non_string_keys_are_refused(text: str, expected: str) -> None:
    """Keys that resolve to anything but a string are refused at the key."""
    assert refuse(text) == [expected]


def test_quoted_number_key_is_a_string_key() -> None:
    """Quoting a numeric key makes it a valid string key."""
    assert load("'1': x\n").data == {"1": "x"}


def test_merge_keys_are_refused() -> None:
    """`<<` is refused at the merge key, with the path of the mapping it is in."""
    assert refuse("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n") == [
        f"{FILE}:3:3: $.child: merge keys (`<<`) are not allowed; write the keys out"
    ]


# --- tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("!!python/object:os.system x", "tag:yaml.org,2002:python/object:os.system"),
        ("!!python/object/apply:os.system ['ls']",
         "tag:yaml.org,2002:python/object/apply:os.system"),
        ("!!python/name:os.system ''", "tag:yaml.org,2002:python/name:os.system"),
        ("!!binary aGVsbG8=", "tag:yaml.org,2002:binary"),
        ("!!timestamp 2026-01-01", "tag:yaml.org,2002:timestamp"),
        ("!!set {x}", "tag:yaml.org,2002:set"),
        ("!custom x", "!custom"),
    ],
    ids=["python-object", "python-apply", "python-name", "binary", "timestamp", "set", "local-tag"],
)
def test_non_core_tags_are_refused(text: str, tag: str) -> None:
    """Python tags and other non-core tags are refused without constructing anything."""
    assert refuse(f"a: {text}\n") == [
        f"{FILE}:1:4: $.a: the tag `{tag}` is not allowed; policies use plain YAML values"
    ]


def test_core_collection_and_string_tags_are_allowed() -> None:
    """Explicit `!!str`, `!!map` and `!!seq` tags are the plain values they name."""
    assert load("a: !!str 3\nb: !!map {c: 1}\nd: !!seq [1]\n").data == {
        "a": "3", "b": {"c": Decimal(1)}, "d": [Decimal(1)],
    }


# --- aliases ---------------------------------------------------------------------------


def test_a_couple_of_aliases_under_the_bound_load_as_copies() -> None:
    """Aliases are expanded into equal values while their total size stays within the bound."""
    text = "limits: &limits {min: 1, max: 5}\nisolated: *limits\ncross: *limits\n"
    limits = {"min": Decimal(1), "max": Decimal(5)}
    assert load(text, max_alias_nodes=6).data == {
        "limits": limits, "isolated": limits, "cross": limits,
    }


def test_alias_expansion_one_over_the_bound_is_refused() -> None:
    """The same document with a bound one node smaller is refused at the node that crosses it."""
    text = "limits: &limits {min: 1, max: 5}\nisolated: *limits\ncross: *limits\n"
    assert refuse(text, max_alias_nodes=5) == [
        f"{FILE}:1:31: $.cross.max: aliases expand to more than 5 nodes;"
        " write the values out instead of reusing anchors"
    ]


def _billion_laughs(levels: int, width: int) -> str:
    names = "abcdefghijklmnop"[:levels]
    lines = [f"a: &a [{', '.join(['lol'] * width)}]"]
    for previous, current in itertools.pairwise(names):
        lines.append(f"{current}: &{current} [{', '.join([f'*{previous}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_small_nested_aliases_load_under_a_generous_bound() -> None:
    """A small nested-alias document (20 expanded nodes) loads when the bound allows it."""
    lol = ["lol", "lol"]
    assert load(_billion_laughs(3, 2), max_alias_nodes=20).data == {
        "a": lol, "b": [lol, lol], "c": [[lol, lol], [lol, lol]],
    }


def test_small_nested_aliases_over_a_small_bound_are_refused() -> None:
    """The same document is refused, once, when the bound is below its 20 expanded nodes."""
    assert refuse(_billion_laughs(3, 2), max_alias_nodes=6) == [
        f"{FILE}:2:4: $.c[0]: aliases expand to more than 6 nodes;"
        " write the values out instead of reusing anchors"
    ]


@pytest.mark.parametrize(
    ("max_alias_nodes", "expected"),
    [
        (20, f"{FILE}:1:4: $.b[2]: aliases expand to more than 20 nodes;"
             " write the values out instead of reusing anchors"),
        (DEFAULT_MAX_ALIAS_NODES, f"{FILE}:1:48: $.c[0][0][8]: aliases expand to more than 100"
                                  " nodes; write the values out instead of reusing anchors"),
    ],
    ids=["bound-20", "default-bound"],
)
def test_billion_laughs_is_refused_with_one_problem(max_alias_nodes: int, expected: str) -> None:
    """A 9-level, 9-wide alias bomb (9**9 strings) is refused with a single problem."""
    assert refuse(_billion_laughs(9, 9), max_alias_nodes=max_alias_nodes) == [expected]


def test_recursive_alias_is_refused() -> None:
    """An anchor that contains an alias to itself is refused rather than looping."""
    assert refuse("a: &x [*x]\n") == [
        f"{FILE}:1:4: $.a[0]: recursive alias: a node contains itself"
    ]


def test_recursive_alias_in_a_mapping_is_refused() -> None:
    """A mapping that contains itself is refused too."""
    assert refuse("a: &x {self: *x}\n") == [
        f"{FILE}:1:4: $.a.self: recursive alias: a node contains itself"
    ]


# --- invalid YAML, empty documents -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1\n", Problem(file=FILE, line=2, col=1,
                            message="invalid YAML: expected `,` or `]` in the `[` opened on line 1, column 4;"
                                    " got the end of the file")),
        ("a: b: c\n", Problem(file=FILE, line=1, col=5,
                              message="invalid YAML: expected one `key: value` per line, got a value holding `: `;"
                                      " quote a value that holds it",
                              suggestion='a: "b: c"')),
        ("a: @x\n", Problem(
            file=FILE, line=1, col=4,
            message="invalid YAML: expected a value, got '@', which cannot start one unquoted; quote the value",
            suggestion='a: "@x"',
        )),
        ("a: 1\n---\nb: 2\n", Problem(file=FILE, line=2, col=1,
                                      message="invalid YAML: expected one document per policy file, got a second"
                                              " one from line 2 (a `---` line); put each policy in its own file")),
        ("a: 'open\n", Problem(file=FILE, line=2, col=1,
                               message="invalid YAML: expected a closing ' for the one opened on line 1, column 4;"
                                       " got the end of the file")),
    ],
    ids=["unclosed-flow-sequence", "nested-mapping-on-one-line", "reserved-character",
         "two-documents", "unterminated-quote"],
)
def test_invalid_yaml_gives_one_problem_with_line_and_column(text: str, expected: Problem) -> None:
    """Syntax errors are one problem, worded in the house style, with a 1-based line and column."""
    assert parse_yaml(text, file=FILE) == (None, [expected])


def test_invalid_yaml_problem_renders_with_position() -> None:
    """The rendered syntax problem reads `file:line:col: $: invalid YAML: reason`."""
    assert refuse("a: b: c\n") == [
        f"{FILE}:1:5: $: invalid YAML: expected one `key: value` per line, got a value holding `: `; quote a value"
        ' that holds it; did you mean `a: "b: c"`?'
    ]


def test_control_character_is_a_problem_not_an_exception() -> None:
    """A non-printable character is one located problem instead of a ReaderError."""
    assert refuse("a: \x07\n") == [
        f"{FILE}:1:4: $: invalid YAML: the character #x0007 is not allowed in YAML text"
    ]
    assert refuse("a: b\n\x00\n") == [
        f"{FILE}:2:1: $: invalid YAML: the character #x0000 is not allowed in YAML text"
    ]


@pytest.mark.parametrize(
    "text", ["", "\n", "# only a comment\n"], ids=["empty", "newline", "comment"]
)
def test_empty_document_is_a_problem(text: str) -> None:
    """A document with no content is refused with one problem at 1:1."""
    assert refuse(text) == [f"{FILE}:1:1: $: the document is empty"]


def test_all_problems_of_a_document_are_reported_together() -> None:
    """Problems of different kinds are collected in one pass, in document order."""
    assert refuse("a: .nan\nb: yes\nb: 1\n1: x\n") == [
        f"{FILE}:1:4: $.a: `.nan` is not a finite number; policies need finite decimals",
        f'{FILE}:2:4: $.b: `yes` is a boolean in YAML 1.1 and a string in YAML 1.2;'
        ' write "yes" (quoted) for a string, or true/false',
        f"{FILE}:3:1: $.b: duplicate key `b` (first defined on line 2)",
        f"{FILE}:4:1: $: mapping keys must be strings, got `1`",
    ]


def test_problem_paths_quote_keys_that_are_not_plain() -> None:
    """Keys with spaces or dots are rendered in bracket form in the JSON path."""
    assert refuse("'a b':\n  'c.d': no\n") == [
        f"{FILE}:2:10: $['a b']['c.d']: `no` is a boolean in YAML 1.1 and a string in YAML 1.2;"
        ' write "no" (quoted) for a string, or true/false'
    ]


# --- marks -----------------------------------------------------------------------------

MARKED = """\
a:
  - x: 1
    y: [2, {z: 3}]
  - 'two'
b:
  c: d
"""


def test_marks_give_one_based_positions_of_values() -> None:
    """`marks` maps each JSON path to the 1-based line and column where its value starts."""
    assert load(MARKED).marks == {
        (): Mark(1, 1),
        ("a",): Mark(2, 3),
        ("a", 0): Mark(2, 5),
        ("a", 0, "x"): Mark(2, 8),
        ("a", 0, "y"): Mark(3, 8),
        ("a", 0, "y", 0): Mark(3, 9),
        ("a", 0, "y", 1): Mark(3, 12),
        ("a", 0, "y", 1, "z"): Mark(3, 16),
        ("a", 1): Mark(4, 5),
        ("b",): Mark(6, 3),
        ("b", "c"): Mark(6, 6),
    }


def test_key_marks_give_one_based_positions_of_keys() -> None:
    """`key_marks` maps each mapping entry's path to where its key starts."""
    assert load(MARKED).key_marks == {
        ("a",): Mark(1, 1),
        ("a", 0, "x"): Mark(2, 5),
        ("a", 0, "y"): Mark(3, 5),
        ("a", 0, "y", 1, "z"): Mark(3, 13),
        ("b",): Mark(5, 1),
        ("b", "c"): Mark(6, 3),
    }


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("a", 0, "x"), False, Mark(2, 8)),
        (("a", 0, "x"), True, Mark(2, 5)),
        (("a", 0, "x", "missing"), False, Mark(2, 8)),
        (("nowhere", 3), False, Mark(1, 1)),
        (("a", 1), True, Mark(4, 5)),
    ],
    ids=["value", "key", "missing-child-uses-parent", "missing-top-uses-root", "no-key-uses-value"],
)
def test_mark_of_falls_back_to_the_nearest_marked_ancestor(
    path: tuple[str | int, ...], key: bool, expected: Mark
) -> None:
    """`mark_of` returns the exact mark, or the nearest ancestor's, or the value's for keys."""
    assert load(MARKED).mark_of(path, key=key) == expected


def test_aliased_values_are_marked_at_the_anchor() -> None:
    """Values copied from an alias carry the position of the anchored original."""
    document = load("base: &b {x: 1}\ncopy: *b\n")
    assert (document.marks[("copy",)], document.marks[("copy", "x")]) == (Mark(1, 7), Mark(1, 14))
