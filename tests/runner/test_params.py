"""coerce_params: defaults, CLI text to typed values, bounds, and clear errors naming the param."""

import pytest

from pipespec.frontend import check_text
from pipespec.runtime import ParamError, coerce_params

SPEC = """
pipespec: 1
name: p
params:
  n: {type: int, default: 3, minimum: 1, maximum: 10}
  rate: {type: float, default: 0.5}
  flag: {type: bool, default: false}
  models: {type: list, items: string, default: [a, b]}
  sizes: {type: list, items: int, default: [1]}
  mode: {type: string, enum: [fast, full], default: fast}
  opts: {type: map, default: {}}
  need: {type: string}
steps:
  s:
    run: echo ${{ params.n }} ${{ params.need }} ${{ params.rate }} ${{ params.flag }} ${{ params.mode }}
    env:
      M: ${{ params.models }}
      S: ${{ params.sizes }}
      O: ${{ params.opts }}
"""


@pytest.fixture(scope="module")
def pipe():
    r = check_text(SPEC, "p.yaml")
    assert r.ok, r.diagnostics
    return r.pipeline


def test_defaults_and_required(pipe):
    with pytest.raises(ParamError, match="param 'need' .*required"):
        coerce_params(pipe, {})
    v = coerce_params(pipe, {"need": "x"})
    assert v == {"n": 3, "rate": 0.5, "flag": False, "models": ["a", "b"], "sizes": [1],
                 "mode": "fast", "opts": {}, "need": "x"}


@pytest.mark.parametrize("text,expected", [
    ("[a,b]", ["a", "b"]), ("a,b", ["a", "b"]), ("[ a , 'b c' ]", ["a", "b c"]),
    ('["x,y"]', ["x,y"]), ("[]", []), ("solo", ["solo"])])
def test_list_forms(pipe, text, expected):
    assert coerce_params(pipe, {"need": "", "models": text})["models"] == expected


def test_scalars_from_text(pipe):
    v = coerce_params(pipe, {"need": "", "n": "7", "rate": "2", "flag": "TRUE", "sizes": "[3, 4]",
                             "opts": '{"k": 1}', "mode": "full"})
    assert (v["n"], v["rate"], v["flag"], v["sizes"], v["opts"], v["mode"]) == (7, 2.0, True, [3, 4], {"k": 1}, "full")
    assert isinstance(v["rate"], float)


@pytest.mark.parametrize("name,value,message", [
    ("n", "3.5", "param 'n' (int): '3.5' is not an int"),
    ("n", "0", "below the minimum 1"),
    ("n", "11", "above the maximum 10"),
    ("rate", "fast", "param 'rate' (float): 'fast' is not a number"),
    ("flag", "yes", "is not a bool: use true or false"),
    ("mode", "slow", "is not one of \"fast\", \"full\""),
    ("sizes", "[1,x]", "has an item 'x' that is not an int"),
    ("opts", "[1]", "is not a JSON object"),
    ("nope", "1", "is not a declared param"),
    ("n", True, "is not an int"),
])
def test_errors_name_param_type_and_value(pipe, name, value, message):
    with pytest.raises(ParamError) as e:
        coerce_params(pipe, {"need": "", name: value})
    assert message in str(e.value)
    assert f"'{name}'" in str(e.value)


def test_typed_values_pass_through(pipe):
    v = coerce_params(pipe, {"need": "", "n": 4, "rate": 1, "models": ("x",), "flag": True})
    assert v["n"] == 4 and v["rate"] == 1.0 and isinstance(v["rate"], float) and v["models"] == ["x"]


def test_cli_bad_param_is_exit_2(spec):
    s = spec(SPEC)
    r = s.run("-p", "need=x", "-p", "n=abc")
    assert r.returncode == 2
    assert "param 'n' (int): 'abc' is not an int" in r.stderr
    r = s.pipespec("exec", str(s.path), "--step", "s", "-p", "need=x", "-p", "mode=slow")
    assert r.returncode == 2 and "param 'mode'" in r.stderr
