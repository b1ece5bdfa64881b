"""Multi-team Airflow (issue 16.3): ``targets.airflow`` owner, tags added to ``pipespec``, pool,
queue, max_active_runs, dagrun_timeout and dag_id_prefix — rendered into the DAG file as
literals, refused with positioned diagnostics when bad, and (slow tier) read back by the real
Airflow 3 DagBag."""

from __future__ import annotations

import ast
import sys

import pytest

from support import ROOT

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.airflow_options import DAG_ID_MAX, NAME_MAX, OPTIONS, dag_id, legal_dag_id
from pipespec.backends.base import CompileOptions
from pipespec.frontend import check_text

TEAM = """\
pipespec: 1
name: churn
schedule: "@daily"
steps:
  prep:
    run: echo prep
  train:
    needs: [prep]
    if: ${{ params.go }}
    run: echo train
finally:
  notify:
    run: echo done
params:
  go: {type: bool, default: true}
targets:
  airflow:
    owner: team-x
    tags: [team-x, pipespec, nightly, team-x]
    pool: team_x_pool
    queue: gpu
    max_active_runs: 3
    dagrun_timeout: 2h30m
    dag_id_prefix: team_x.
"""

PLAIN = """\
pipespec: 1
name: plain
steps:
  a:
    run: echo a
"""


def _compile(text: str, spec: str = "pipeline.yaml") -> str:
    res = check_text(text, spec)
    assert res.ok, [f"{d.code} {d.message}" for d in res.diagnostics]
    r = AirflowBackend().compile(res.pipeline, CompileOptions(spec))
    assert r.ok, [d.message for d in r.diagnostics]
    return r.text


def _dag_kwargs(text: str) -> dict[str, ast.expr]:
    """The keyword arguments of the file's ``with DAG(...)``."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "DAG":
                return {k.arg: k.value for k in call.keywords}
    raise AssertionError("no `with DAG(...)` in the file")


def _timedelta_seconds(node: ast.expr) -> float:
    assert isinstance(node, ast.Call) and ast.unparse(node.func) == "datetime.timedelta"
    (kw,) = node.keywords
    assert kw.arg == "seconds"
    return ast.literal_eval(kw.value)


# -- rendering ----------------------------------------------------------------------------------
def test_every_team_option_reaches_the_dag():
    kw = _dag_kwargs(_compile(TEAM))
    assert ast.literal_eval(kw["dag_id"]) == "team_x.churn"
    assert ast.literal_eval(kw["max_active_runs"]) == 3
    assert _timedelta_seconds(kw["dagrun_timeout"]) == 2.5 * 3600
    assert ast.literal_eval(kw["default_args"]) == {"owner": "team-x", "pool": "team_x_pool", "queue": "gpu"}
    # added to the default tag, in the spec's order, each once
    assert ast.literal_eval(kw["tags"]) == ["pipespec", "team-x", "nightly"]


def test_without_the_options_the_dag_is_as_before():
    kw = _dag_kwargs(_compile(PLAIN))
    assert ast.literal_eval(kw["dag_id"]) == "plain"
    assert ast.literal_eval(kw["tags"]) == ["pipespec"]
    assert not {"default_args", "max_active_runs", "dagrun_timeout"} & set(kw)


def test_tags_are_added_to_pipespec_not_instead_of_it():
    text = PLAIN + "targets:\n  airflow: {tags: [ml]}\n"
    assert ast.literal_eval(_dag_kwargs(_compile(text))["tags"]) == ["pipespec", "ml"]
    text = PLAIN + "targets:\n  airflow: {tags: []}\n"
    assert ast.literal_eval(_dag_kwargs(_compile(text))["tags"]) == ["pipespec"]


def test_only_the_options_written_go_to_default_args():
    text = PLAIN + "targets:\n  airflow: {pool: shared}\n"
    kw = _dag_kwargs(_compile(text))
    assert ast.literal_eval(kw["default_args"]) == {"pool": "shared"}
    text = PLAIN + "targets:\n  airflow: {dagrun_timeout: 90}\n"
    assert _timedelta_seconds(_dag_kwargs(_compile(text))["dagrun_timeout"]) == 90.0
    # 0 is no limit, as Airflow reads timedelta(0) (falsy): the file says nothing
    for zero in ("0", "0m", "0h0s"):
        assert "dagrun_timeout" not in _dag_kwargs(_compile(PLAIN + f"targets:\n  airflow: {{dagrun_timeout: {zero}}}\n"))


def test_dag_id_is_derived_in_one_place():
    res = check_text(TEAM, "pipeline.yaml")
    assert dag_id(res.pipeline.name, AirflowBackend().configure(res.pipeline)) == "team_x.churn"
    plain = check_text(PLAIN, "p.yaml").pipeline
    assert dag_id(plain.name, AirflowBackend().configure(plain)) == "plain"
    # what validate has (no IR): the name and targets.airflow as written
    assert dag_id("churn", {"dag_id_prefix": "team_a-"}) == "team_a-churn"
    assert dag_id("churn", None) == dag_id("churn", {}) == "churn"
    # the longest prefix the schema admits before the longest name is still a legal dag_id
    longest = "a" * (DAG_ID_MAX - NAME_MAX) + "b" * NAME_MAX
    assert legal_dag_id(longest) and not legal_dag_id(longest + "c") and not legal_dag_id("team a.churn")


HOSTILE = ['x"); import os; os.system("id"); ("', "'''\n\"\"\"", "a\\'b", "{{ dag_run.conf }}", "}", "ü 🎉"]


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_owner_pool_queue_strings_stay_strings(payload):
    import json

    q = json.dumps(payload, ensure_ascii=False)
    text = PLAIN + f"targets:\n  airflow: {{owner: {q}, pool: {q}, queue: {q}, tags: [{q}]}}\n"
    out = _compile(text)
    kw = _dag_kwargs(out)
    assert ast.literal_eval(kw["default_args"]) == {"owner": payload, "pool": payload, "queue": payload}
    assert ast.literal_eval(kw["tags"]) == ["pipespec", payload]
    assert "system" not in {n.attr for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Attribute)}


# -- bad values: positioned diagnostics from the options schema ---------------------------------
@pytest.mark.parametrize("line, code", [
    ("max_active_runs: -1", "E203"),
    ("max_active_runs: 0", "E203"),
    ("max_active_runs: 2.5", "E200"),
    ("max_active_runs: 3000000000", "E203"),
    ("dagrun_timeout: 2 hours", "E205"),
    ("dagrun_timeout: -5", "E205"),
    ("dagrun_timeout: 31d", "E211"),
    ("dag_id_prefix: team a/", "E203"),
    ("dag_id_prefix: équipe.", "E203"),
    ('dag_id_prefix: ""', "E203"),
    (f"dag_id_prefix: {'p' * (DAG_ID_MAX - NAME_MAX + 1)}", "E224"),
    ('pool: ""', "E203"),
    ('queue: ""', "E203"),
    ('owner: ""', "E203"),
    ("owner: 5", "E108"),
    ("ownr: x", "E201"),
])
def test_bad_values_are_positioned_diagnostics(line, code):
    text = PLAIN + "targets:\n  airflow:\n    " + line + "\n"
    res = check_text(text, "bad.yaml")
    assert not res.ok
    assert [d.code for d in res.diagnostics] == [code], [f"{d.code} {d.message}" for d in res.diagnostics]
    d = res.diagnostics[0]
    assert d.span.line == 8, (d.span, d.message)
    key, _, value = line.partition(": ")
    # the value's position (the key's for an unknown key)
    assert d.span.col == (5 if code == "E201" else 5 + len(key) + 2), (d.span, d.message)


def test_the_options_parse_to_typed_fields():
    o = OPTIONS.parse({"owner": "o", "pool": "p", "queue": "q", "max_active_runs": 2, "dagrun_timeout": "1h",
                       "dag_id_prefix": "t.", "tags": ["a"]})
    assert (o.owner, o.pool, o.queue, o.max_active_runs, o.dag_id_prefix, o.tags) == ("o", "p", "q", 2, "t.", ("a",))
    assert o.dagrun_timeout_s == 3600.0 and o.dag_tags == ["pipespec", "a"]
    assert OPTIONS.parse({}).default_args == {} and OPTIONS.parse({}).dagrun_timeout_s is None


# -- the real Airflow ---------------------------------------------------------------------------
@pytest.mark.slow
def test_the_real_dagbag_reads_every_option(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "tooling"))
    import verify  # tests/tooling/verify.py

    (tmp_path / "team.py").write_text(_compile(TEAM), encoding="utf-8")
    (tmp_path / "plain.py").write_text(_compile(PLAIN), encoding="utf-8")
    # two teams, one pipeline name: the prefixes keep both DAGs
    team_b = TEAM.replace("team_x.", "team_b.").replace("team_x_pool", "team_b_pool")
    (tmp_path / "team_b.py").write_text(_compile(team_b), encoding="utf-8")
    rep = verify.airflow_check(tmp_path, known_pools=["team_x_pool", "default_pool"])
    assert rep["ok"], rep["errors"]
    assert set(rep["dags"]) == {"team_x.churn", "team_b.churn", "plain"}
    team = rep["dags"]["team_x.churn"]
    assert team["owner"] == "team-x"
    assert team["tags"] == ["nightly", "pipespec", "team-x"]
    assert team["max_active_runs"] == 3
    assert team["dagrun_timeout"] == "2:30:00"
    assert set(team["tasks"]) == {"prep", "train__if", "train", "notify", "finally__succeeded"}
    for tid, t in team["tasks"].items():     # the helper tasks too
        assert (t["owner"], t["pool"], t["queue"]) == ("team-x", "team_x_pool", "gpu"), tid
    plain = rep["dags"]["plain"]
    assert plain["owner"] == "airflow" and plain["tags"] == ["pipespec"]
    assert plain["dagrun_timeout"] is None and plain["max_active_runs"] == 16
    assert (plain["tasks"]["a"]["pool"], plain["tasks"]["a"]["queue"]) == ("default_pool", "default")
    assert rep["dags"]["team_b.churn"]["tasks"]["prep"]["pool"] == "team_b_pool"
    # team_b's pool is not in the deployment: Airflow says so (and of that DAG only)
    assert rep["dag_warnings"] == ["Dag 'team_b.churn' references non-existent pools: ['team_b_pool']"]


# -- per-step pool and queue ---------------------------------------------------------------------
PER_STEP = TEAM.replace("    dag_id_prefix: team_x.\n", "    dag_id_prefix: team_x.\n    steps:\n"
                        "      train: {pool: gpu_pool, queue: gpu}\n      notify: {queue: light}\n")


def _task_kwargs(text: str, task_id: str) -> dict[str, object]:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and any(k.arg == "task_id" and ast.literal_eval(k.value) == task_id
                                              for k in node.keywords):
            return {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("pool", "queue")}
    raise AssertionError(f"no task {task_id}")


def test_per_step_pool_and_queue_go_to_that_task_only():
    text = _compile(PER_STEP)
    assert _task_kwargs(text, "train") == {"pool": "gpu_pool", "queue": "gpu"}
    assert _task_kwargs(text, "notify") == {"queue": "light"}
    assert _task_kwargs(text, "prep") == {}                  # default_args holds the DAG's own
    assert ast.literal_eval(_dag_kwargs(text)["default_args"]) == {"owner": "team-x", "pool": "team_x_pool",
                                                                   "queue": "gpu"}


@pytest.mark.parametrize("steps, code, line, message", [
    ("      trian: {pool: gpu}\n", "E304", 26, "targets.airflow.steps: 'trian' names no step"),
    ("      train: {}\n", "E202", 26, None),
    ("      train: {pool: gpu, slots: 2}\n", "E201", 26, None),
    ("      train: {pool: ''}\n", "E203", 26, None),
])
def test_per_step_options_are_checked_at_validate_time(steps, code, line, message):
    text = TEAM.replace("    dag_id_prefix: team_x.\n", "    dag_id_prefix: team_x.\n    steps:\n" + steps)
    errors = [d for d in check_text(text, "p.yaml").diagnostics if d.is_error]
    assert [(d.code, d.span.line) for d in errors] == [(code, line)], errors
    if message:
        assert errors[0].message == message and errors[0].help == "did you mean 'train'?"


@pytest.mark.slow
def test_the_real_dagbag_reads_per_step_pool_and_queue(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "tooling"))
    import verify  # tests/tooling/verify.py

    (tmp_path / "team.py").write_text(_compile(PER_STEP), encoding="utf-8")
    rep = verify.airflow_check(tmp_path, known_pools=["team_x_pool", "default_pool"])
    assert rep["ok"], rep["errors"]
    tasks = rep["dags"]["team_x.churn"]["tasks"]
    got = {tid: (t["owner"], t["pool"], t["queue"]) for tid, t in tasks.items()}
    assert got == {"prep": ("team-x", "team_x_pool", "gpu"),
                   "train__if": ("team-x", "team_x_pool", "gpu"),     # the gate keeps the DAG's
                   "train": ("team-x", "gpu_pool", "gpu"),
                   "notify": ("team-x", "team_x_pool", "light"),
                   "finally__succeeded": ("team-x", "team_x_pool", "gpu")}
    # Airflow's own check names the per-step pool the deployment lacks
    assert rep["dag_warnings"] == ["Dag 'team_x.churn' references non-existent pools: ['gpu_pool']"]
