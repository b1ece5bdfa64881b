"""Templates: strings cut into text and ${{ }} expressions, with offsets into the string."""

import pytest

from pipespec.expr import (Binary, Literal, Ref, Template, TemplateError, parse, split_template)
from pipespec.expr.template import TemplateExpr


def test_plain_string_is_one_literal_part():
    t = split_template("python train.py --n 3")
    assert t.parts == ("python train.py --n 3",)
    assert t.is_literal and not t.whole
    assert split_template("").parts == ()
    assert split_template("${ not } {{ this }}").is_literal


def test_whole_expression():
    t = split_template("${{ params.models }}")
    assert t.whole and not t.is_literal
    (e,) = t.parts
    assert isinstance(e, TemplateExpr)
    assert e.expr == Ref("params", ("models",))
    assert (e.source, e.offset) == (" params.models ", 3)


def test_whole_allows_surrounding_whitespace():
    t = split_template("  ${{ a }}\n")
    assert t.whole
    assert t.parts[0] == "  " and t.parts[-1] == "\n"


def test_embedded_expressions_and_offsets():
    text = "python s.py --src ${{ params.data }} --out ${{outputs.raw}}!"
    t = split_template(text)
    assert not t.whole and not t.is_literal
    assert [p if isinstance(p, str) else p.expr for p in t.parts] == [
        "python s.py --src ", Ref("params", ("data",)), " --out ", Ref("outputs", ("raw",)), "!"]
    first, second = t.exprs
    assert text[first.offset:first.offset + len(first.source)] == " params.data "
    assert text[second.offset:second.offset + len(second.source)] == "outputs.raw"
    assert text[first.start:first.end] == "${{ params.data }}"
    # a node's position plus the offset lands on the node in the whole string
    assert text[second.offset + second.expr.start:second.offset + second.expr.end] == "outputs.raw"


def test_two_expressions_side_by_side_are_not_whole():
    t = split_template("${{ a }}${{ b }}")
    assert len(t.exprs) == 2 and not t.whole
    assert len(t.parts) == 2


def test_closing_braces_inside_quotes_do_not_close():
    t = split_template("${{ '}}' }}")
    assert t.whole and t.exprs[0].expr == Literal("}}")
    t = split_template("x ${{ a == 'it''s }} here' }} y")
    assert t.exprs[0].expr == Binary("==", Ref("a"), Literal("it's }} here"))
    assert t.parts[-1] == " y"


def test_extra_closing_brace_is_text():
    t = split_template("${{ a }}}")
    assert t.parts[1] == "}"


def test_unterminated_expression_is_E314_at_the_opener():
    with pytest.raises(TemplateError) as info:
        split_template("echo ${{ params.n")
    e = info.value
    assert e.code == "E314"
    assert (e.start, e.end) == (5, 8)
    assert "never closed" in e.message


def test_second_unterminated_expression():
    with pytest.raises(TemplateError) as info:
        split_template("${{ a }} and ${{ b } ")
    assert (info.value.code, info.value.start) == ("E314", 13)


def test_syntax_error_inside_maps_to_offsets_in_the_string():
    text = "echo ${{ params..n }}"
    with pytest.raises(TemplateError) as info:
        split_template(text)
    e = info.value
    assert e.code == "E300"
    assert text[e.start] == "."
    assert e.start == text.index("..") + 1
    assert "field name" in e.message


def test_unterminated_string_inside_is_reported_as_syntax():
    text = "x ${{ 'abc }}"
    with pytest.raises(TemplateError) as info:
        split_template(text)
    e = info.value
    assert e.code == "E300" and "unterminated string" in e.message
    assert text[e.start] == "'"


def test_empty_expression():
    with pytest.raises(TemplateError) as info:
        split_template("a ${{ }} b")
    assert info.value.code == "E300"
    assert "empty" in info.value.message


def test_render_whole_keeps_the_type():
    values = {"params.models": ["a", "b"], "params.n": 3}
    look = lambda r: values[r.dotted]  # noqa: E731
    assert split_template("${{ params.models }}").render(look) == ["a", "b"]
    assert split_template(" ${{ params.n }} ").render(look) == 3


def test_render_embedded_is_text():
    values = {"n": 3, "f": 1.0, "ok": True, "none": None, "xs": [1, "a"], "m": {"b": 1, "a": 2}}
    look = lambda r: values[r.dotted]  # noqa: E731
    t = split_template("${{n}}|${{f}}|${{ok}}|${{none}}|${{xs}}|${{m}}|${{ n * 2 }}")
    assert t.render(look) == '3|1.0|true||[1,"a"]|{"a":2,"b":1}|6'
    assert split_template("plain").render(look) == "plain"


def test_template_is_frozen():
    t = split_template("${{ a }}")
    assert isinstance(t, Template)
    with pytest.raises(AttributeError):
        t.parts = ()  # type: ignore[misc]
    assert t.exprs[0].expr == parse("a")
