"""Syntax errors: the message, and an offset that lands on the offending character."""

import pytest

from pipespec.expr import ExprSyntaxError, parse


def error(src: str) -> ExprSyntaxError:
    with pytest.raises(ExprSyntaxError) as info:
        parse(src)
    return info.value


# (source, marked position, expected fragment of the message). The marker string is the
# character at the offset, or "" for the end of the expression.
CASES = [
    ("a +", 3, "expected an operand after '+'"),
    ("a + ", 3, "expected an operand after '+'"),
    ("a ==", 4, "expected an operand after '=='"),
    ("a && ", 4, "expected an operand after '&&'"),
    ("!", 1, "expected an operand after '!'"),
    ("a + )", 4, "expected an operand after '+', found ')'"),
    ("a * * b", 4, "expected an operand after '*'"),
    ("params..x", 7, "expected a field name after '.'"),
    ("params.", 7, "expected a field name after '.'"),
    ("x[0].", 5, "expected a field name after '.'"),
    ("1.", 2, "a number needs digits after '.'"),
    ("a)", 1, "unexpected ')'"),
    (")", 0, "unexpected ')'"),
    ("(a + b))", 7, "unexpected ')'"),
    ("(a", 0, "'(' is never closed"),
    ("((a)", 0, "'(' is never closed"),
    ("f(a, (b)", 1, "'(' is never closed"),
    ("[1, 2", 0, "'[' is never closed"),
    ("a[0", 1, "'[' is never closed"),
    ("(a]", 2, "unexpected ']': expected ')' to close '('"),
    ("a[]", 2, "expected an operand after '['"),
    ("f(1,)", 4, "expected an operand after ','"),
    ("[1,]", 3, "expected an operand after ','"),
    ("'abc", 0, "unterminated string"),
    ("a == 'it''s", 5, "unterminated string"),
    ('"x"', 0, "strings use single quotes"),
    ("a = b", 2, "compare with '=='"),
    ("a & b", 2, "write '&&'"),
    ("a | b", 2, "write '||'"),
    ("a # b", 2, "unexpected character '#'"),
    ("a b", 2, "unexpected 'b': expected an operator"),
    ("1 2", 2, "unexpected '2'"),
    ("a[0]b", 4, "unexpected 'b'"),
    ("a ! b", 2, "unexpected '!'"),
    ("(a)(b)", 3, "only the built-in functions can be called"),
    ("a.b(1)", 0, "'a.b' is not a function"),
    ("true.x", 0, "'true' is a literal"),
    ("", 0, "empty expression"),
    ("   ", 0, "empty expression"),
]


@pytest.mark.parametrize("src, pos, fragment", CASES)
def test_message_and_offset(src, pos, fragment):
    e = error(src)
    assert fragment in e.message
    assert e.start == pos
    assert e.start <= e.end <= len(src)
    assert str(e) == e.message


def test_offset_points_at_the_offending_character():
    # the offender is marked with a caret under each source; the error's start must match it
    marked = [
        ("steps.a.outputs..x + 1", "                ^"),
        ("params.n + 1 ) * 2", "             ^"),
        ("len(x) == 'abc", "          ^"),
        ("a && (b || c", "     ^"),
        ("x = 1", "  ^"),
        ("f(1, 2,, 3)", "       ^"),
    ]
    for src, caret in marked:
        assert error(src).start == caret.index("^"), src


def test_end_of_input_errors_point_just_past_the_last_token():
    e = error("  a -   ")
    assert (e.start, e.end) == (5, 5)


def test_unterminated_string_spans_to_the_end():
    e = error("x == 'abc ")
    assert (e.start, e.end) == (5, 10)


def test_expected_is_a_tuple_of_readable_names():
    e = error("a +")
    assert isinstance(e.expected, tuple)
    assert "a name" in e.expected and "a number" in e.expected and "'('" in e.expected
    assert error("params..x").expected == ("a name",)


def test_deep_nesting_is_a_syntax_error_not_a_crash():
    src = "(" * 5000 + "1" + ")" * 5000
    try:
        parse(src)
    except ExprSyntaxError as e:
        assert "nested too deeply" in e.message


def test_no_lark_exception_escapes():
    import lark.exceptions

    for src in ["(", "'", "a..", "@", "[", "a[", "f(", "1e", "1e+", "..", "a.b.", "`x`"]:
        try:
            parse(src)
        except ExprSyntaxError:
            pass
        except lark.exceptions.LarkError as e:  # pragma: no cover
            pytest.fail(f"lark error escaped for {src!r}: {e!r}")
