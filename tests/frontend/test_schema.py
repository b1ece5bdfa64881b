"""The shape check: did-you-mean, oneOf best match, name rules with suggestions, durations,
quantities, schedules and E108 — every error with the position of the offending key or value."""

from __future__ import annotations

from pipespec.frontend import check_text


def diags(text, code=None):
    res = check_text(text, "s.yaml")
    return [d for d in res.diagnostics if code is None or d.code == code]


def at(d):
    return (d.span.line, d.span.col)


STEPS = "pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo\n"


# -- names under propertyNames point at the key itself ------------------------------------------
def test_every_bad_step_name_points_at_its_own_key():
    text = "pipespec: 1\nname: t\nsteps:\n  ok:\n    run: x\n  Bad-One:\n    run: x\n  two__under:\n    run: x\n"
    found = {d.message.split("'")[1]: at(d) for d in diags(text, "E204")}
    assert found == {"Bad-One": (6, 3), "two__under": (8, 3)}
    [d] = [d for d in diags(text, "E204") if "Bad-One" in d.message]
    assert (d.span.end_line, d.span.end_col) == (6, 10)


def test_too_long_name_points_at_its_key():
    long = "a" * 41
    [d] = diags(STEPS + f"  {long}:\n    run: x\n", "E204")
    assert at(d) == (6, 3) and "at most 40 characters" in d.message


def test_bad_output_and_param_names_point_at_keys():
    text = ("pipespec: 1\nname: t\nparams:\n  x: {type: int, default: 1}\n  camelCase: {type: int}\n"
            "steps:\n  a:\n    run: echo ${{ params.x }}\n    outputs: {good: file, Bad: file}\n")
    found = {d.message.split("'")[1]: at(d) for d in diags(text, "E204")}
    assert found == {"camelCase": (5, 3), "Bad": (9, 27)}


def test_env_names_point_at_keys_with_clear_messages():
    text = STEPS + "    env:\n      GOOD: x\n      1BAD: x\n      PIPESPEC_X: y\n"
    ds = diags(text, "E203")
    assert [(at(d), d.message) for d in ds] == [
        ((8, 7), "'1BAD' is not a valid environment variable name"),
        ((9, 7), "'PIPESPEC_X' is reserved: pipespec sets the PIPESPEC_* variables itself"),
    ]


def test_defaults_env_names_are_environment_variables():
    text = "pipespec: 1\nname: t\ndefaults:\n  env: {9X: a}\nsteps:\n  a:\n    run: echo\n"
    [d] = diags(text, "E203")
    assert at(d) == (4, 9) and "environment variable" in d.message


def test_with_argument_names():
    text = STEPS.replace("run: echo", "call: m:f") + "    with:\n      ok: 1\n      bad-arg: 2\n"
    [d] = diags(text, "E203")
    assert at(d) == (8, 7) and d.message == "'bad-arg' is not a valid argument name"


# -- E108 ---------------------------------------------------------------------------------------
def test_version_like_float_where_a_string_is_expected():
    [d] = diags(STEPS.replace("steps:", "defaults:\n  image: 3.10\nsteps:"), "E108")
    assert at(d) == (4, 10) and d.help == 'quote it: "3.10" (YAML reads 3.10 as 3.1)'


def test_e108_help_names_the_number_actually_read():
    [d] = diags(STEPS + "    description: 1e3\n", "E108")
    assert d.help == 'quote it: "1e3" (YAML reads 1e3 as 1000.0)'
    [d] = diags(STEPS.replace("run: echo", "run: 42"), "E108")
    assert d.help == 'quote it: "42"'


def test_no_e108_where_a_string_is_only_one_of_the_choices():
    ds = diags(STEPS + "    if: 1\n")
    assert "E108" not in [d.code for d in ds]
    assert [d.message for d in ds if d.code == "E200"] == ["steps.a.if must be a string or boolean, not an integer"]


def test_a_number_in_if_is_reported_once():
    assert [d.code for d in diags(STEPS + "    if: 1\n") if d.is_error] == ["E200"]
