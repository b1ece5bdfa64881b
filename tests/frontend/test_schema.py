"""The shape check: did-you-mean, oneOf best match, name rules with suggestions, durations,
quantities, schedules and E108 — every error with the position of the offending key or value."""

from __future__ import annotations

import pytest

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
    ds = diags(text, "E222") + diags(text, "E221")
    assert [(d.code, at(d), d.message) for d in ds] == [
        ("E222", (8, 7), "'1BAD' is not a valid environment variable name"),
        ("E221", (9, 7), "'PIPESPEC_X' is reserved: pipespec sets the PIPESPEC_* variables itself"),
    ]


def test_defaults_env_names_are_environment_variables():
    text = "pipespec: 1\nname: t\ndefaults:\n  env: {9X: a}\nsteps:\n  a:\n    run: echo\n"
    [d] = diags(text, "E222")
    assert at(d) == (4, 9) and "environment variable" in d.message


def test_with_argument_names():
    text = STEPS.replace("run: echo", "call: m:f") + "    with:\n      ok: 1\n      bad-arg: 2\n"
    [d] = diags(text, "E222")
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


# -- did you mean -------------------------------------------------------------------------------
@pytest.mark.parametrize("where, key, hint", [
    ("top", "paramz", "params"), ("step", "retry", "retries"), ("step", "dependencies", None),
    ("step", "comand", None), ("step", "foreach_", "foreach"),
])
def test_unknown_keys_suggest_the_closest(where, key, hint):
    text = (STEPS + f"{key}: 1\n") if where == "top" else (STEPS + f"    {key}: 1\n")
    [d] = diags(text, "E201")
    assert d.message.startswith(f"unknown key '{key}'")
    if hint:
        assert d.help == f"did you mean '{hint}'?"
    else:
        assert d.help.startswith("allowed keys: ") or d.help.startswith("did you mean")


def test_unknown_key_points_at_the_key():
    [d] = diags(STEPS + "    retry: 3\n", "E201")
    assert at(d) == (6, 5) and d.span.end_col == 10


# -- oneOf: the branch of the value's type, not every branch -------------------------------------
def test_retries_mapping_reports_the_mapping_branch_only():
    ds = diags(STEPS + "    retries: {limit: 2, dealy: 5s}\n")
    assert [(d.code, d.message) for d in ds] == [("E201", "unknown key 'dealy' in steps.a.retries")]
    assert ds[0].help == "did you mean 'delay'?"


def test_retries_integer_reports_the_integer_branch_only():
    [d] = diags(STEPS + "    retries: 101\n")
    assert d.code == "E203" and "101 is greater than the maximum of 100" in d.message


def test_retries_without_limit():
    [d] = diags(STEPS + "    retries: {delay: 5s}\n")
    assert d.code == "E202" and d.message == "missing required key 'limit' in steps.a.retries"


def test_run_list_item_of_wrong_type():
    [d] = diags(STEPS.replace("run: echo", "run: [echo, {a: 1}]"))
    assert d.code == "E200" and at(d) == (5, 17)


def test_outputs_in_mapping_form():
    ds = diags(STEPS + "    outputs: {m: {type: modle}}\n")
    assert [d.code for d in ds] == ["E223"] and "'modle' is not one of" in ds[0].message


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, suggestion", [
    ("Train-Model", "train_model"), ("2fast", "x_2fast"), ("a__b", "a_b"), ("_x", "x"), ("x_", "x"),
])
def test_step_name_suggestions(bad, suggestion):
    [d] = diags(STEPS + f"  {bad}:\n    run: x\n", "E204")
    assert d.help.startswith(f"e.g. '{suggestion}'")


@pytest.mark.parametrize("bad, suggestion", [
    ("My_Pipeline", "my-pipeline"), ("churn--v2-", "churn-v2"), ("9lives", "x-9lives"),
])
def test_pipeline_name_suggestions(bad, suggestion):
    [d] = diags(STEPS.replace("name: t", f"name: {bad}"), "E204")
    assert at(d) == (2, 7) and d.help.startswith(f"e.g. '{suggestion}'")


def test_pipeline_name_length_limit():
    assert not diags(STEPS.replace("name: t", "name: " + "a" * 63), "E204")
    assert diags(STEPS.replace("name: t", "name: " + "a" * 64), "E204")


# -- durations, quantities, schedules --------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "90", "30s", "5m", "2h", "1d", "1h30m", "1d2h3m4s", "'45s'"])
def test_good_durations(value):
    assert not diags(STEPS + f"    timeout: {value}\n")


@pytest.mark.parametrize("value", ["1.5h", "30 minutes", "-5", "h", "1m30", "5M", "''", "1s2m", "true"])
def test_bad_durations(value):
    ds = diags(STEPS + f"    timeout: {value}\n")
    assert [d.code for d in ds] == ["E205"] and at(ds[0]) == (6, 14)


@pytest.mark.parametrize("cpu", ["1", "0.5", "'2'", "500m", "'250m'"])
def test_good_cpu(cpu):
    assert not diags(STEPS + f"    resources: {{cpu: {cpu}}}\n")


@pytest.mark.parametrize("cpu", ["0", "-1", "2 cores", "0.5m", "1k", "true"])
def test_bad_cpu(cpu):
    assert [d.code for d in diags(STEPS + f"    resources: {{cpu: {cpu}}}\n")] == ["E206"]


@pytest.mark.parametrize("mem", ["512Mi", "4Gi", "1G", "1.5Gi", "1073741824", "100k"])
def test_good_memory(mem):
    assert not diags(STEPS + f"    resources: {{memory: {mem}}}\n")


@pytest.mark.parametrize("mem", ["4GB", "0", "-1", "4 Gi", "Gi", "1.5"])
def test_bad_memory(mem):
    assert [d.code for d in diags(STEPS + f"    resources: {{memory: {mem}}}\n")] == ["E206"]


@pytest.mark.parametrize("sched", ["'0 3 * * *'", "'*/15 * * * 1-5'", "'@daily'", "'@hourly'", "'@yearly'"])
def test_good_schedules(sched):
    assert not diags(STEPS.replace("steps:", f"schedule: {sched}\nsteps:"))


@pytest.mark.parametrize("sched", ["every day", "'@nightly'", "'0 3 * *'", "'0 3 * * * *'", "3"])
def test_bad_schedules(sched):
    ds = diags(STEPS.replace("steps:", f"schedule: {sched}\nsteps:"))
    assert [d.code for d in ds] in (["E207"], ["E108"]) and at(ds[0]) == (3, 11)
