"""Hypothesis strategies for whole specs: ``from strategies import valid_specs``.

``valid_specs()`` draws specs that are valid by construction (the frontend must accept each one
without an error; warnings such as W500/W501/W502 are allowed), covering the language's step
features within its rules: run (shell and argv) and call steps, if, foreach (a parameter, a
literal list, a list output), parallelism, needs, finally, retries (count and mapping), timeouts,
resources (with and without a GPU or an accelerator), images, cache, env (pipeline, defaults,
step), secrets, value and artifact outputs (and metrics fields), schedules, defaults and targets
options. Step ``s0`` never depends on another step. Used by tests/frontend (the IR is
deterministic) and tests/backends/test_compile_properties.py (every target compiles it).
"""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,3})?", fullmatch=True)
# step names: ordinary ones, the 40-character limit, and names like what the targets generate
# (KFP's exit-handler / for-loop- / condition- / comp- names, GitHub helper jobs, the pipeline's)
STEP_NAMES = st.one_of(
    NAMES, st.sampled_from(["exit_handler", "for_loop_s1", "condition_s1", "root", "gen", "comp_gen",
                            "exec_gen", "notify", "setup", "s1_required", "a" * 40, "x" + "_y" * 19]))

SCHEDULES = ["@daily", "@hourly", "0 3 * * *", "*/15 * * * 1-5"]
DURATIONS = [30, "45s", "5m", "1h30m", "2h", "1d"]
VALUE_OUTPUTS = ["string", "int", "float", "bool", "list", "map", "path"]
ARTIFACT_OUTPUTS = ["dataset", "model", "file", "dir"]
IMAGES = ["python:3.11-slim", "ghcr.io/acme/steps:1.0"]


def _one_in(draw, k: int) -> bool:
    """True about once in ``k`` draws (``integers(0, k-1) == 0`` would be far more often: hypothesis
    favours boundary values), shrinking to False."""
    return draw(st.sampled_from([False] * (k - 1) + [True]))


def _e(text: str) -> str:
    return "${{ " + text + " }}"


@st.composite
def _resources(draw, gpu: bool = True):
    r = {}
    if draw(st.booleans()):
        r["cpu"] = draw(st.sampled_from([1, 0.5, "2", "500m"]))
    if draw(st.booleans()):
        r["memory"] = draw(st.sampled_from(["512Mi", "2Gi", "1G", 1073741824]))
    if gpu and _one_in(draw, 10):  # GitHub refuses a GPU no runner of targets.github offers
        r["gpu"] = 1
        if draw(st.booleans()):
            r["accelerator"] = "nvidia-tesla-t4"
    return r or {"cpu": 1}


@st.composite
def _retries(draw):
    if draw(st.booleans()):
        return draw(st.integers(0, 3))
    r = {"limit": draw(st.integers(0, 3))}
    if draw(st.booleans()):
        r["delay"] = draw(st.sampled_from([0, "10s", "1m"]))
    if draw(st.booleans()):
        r["backoff"] = draw(st.sampled_from([1, 1.5, 2]))
    if draw(st.booleans()):
        r["max_delay"] = draw(st.sampled_from(["1m", "1h"]))
    return r


def _shared_keys(draw, s: dict, gpu: bool = True) -> None:
    """The keys a step shares with ``defaults:`` (image, resources, retries, timeout, cache)."""
    if _one_in(draw, 4):
        s["image"] = draw(st.sampled_from(IMAGES))
    if _one_in(draw, 3):
        s["resources"] = draw(_resources(gpu))
    if _one_in(draw, 3):
        s["retries"] = draw(_retries())
    if _one_in(draw, 3):
        s["timeout"] = draw(st.sampled_from(DURATIONS))
    if _one_in(draw, 5):
        s["cache"] = False


@st.composite
def _condition(draw, name: str, fanned: bool, outs: dict, params: dict) -> str:
    """A bool expression over params and step sj's outputs (lists when sj fans out)."""
    auc = f"steps.{name}.outputs.m.auc"
    k = draw(st.integers(0, 3))
    # conditions every target translates, and (drawn less often) ones some target refuses (E600):
    # len/max/round have no GitHub form, max/round no CEL form
    choices = [f"steps.{name}.outputs.m.auc >= {k}" if not fanned else "params.a >= " + str(k),
               "params.a > " + str(k), "contains(params.l, 'x')", "startsWith(params.s, 'f')", "params.b",
               "!params.b && params.f <= 1.5", "params.s == 'fast' || params.a != 2"]
    if "m" in params:
        choices += ["params.m.depth == 2", "startsWith(params.p, 'data/') && params.m['tags'] != null"]
    if not fanned and "n" in outs:
        choices.append(f"steps.{name}.outputs.n + 1 > params.a")
    if not fanned and "o" in outs:
        choices.append(f"endsWith(steps.{name}.outputs.o, 'z') || steps.{name}.outputs.o == ''")
    if _one_in(draw, 4):
        choices = [f"max(steps.{name}.outputs.m.auc) >= {k}" if fanned else f"len(steps.{name}.outputs.o) > {k}",
                   "len(params.l) > " + str(k), "round(params.f) == 0 && format('{0}', params.a) != ''"]
    return _e(draw(st.sampled_from(choices)))


@st.composite
def _targets(draw):
    t = {}
    if draw(st.booleans()):
        t["airflow"] = draw(st.sampled_from([{"operator": "kubernetes", "namespace": "ml"}, {"tags": ["ml"], "output": "dags/gen.py"},
                                             {"artifact_root": "s3://bucket/artifacts"}]))
    if draw(st.booleans()):
        t["kubeflow"] = draw(st.sampled_from([{"pipeline_root": "gs://bucket/root"},
                                              {"image": "ghcr.io/acme/steps:1.0", "output": "kfp/gen.yaml"},
                                              {"setup": False}]))
    if draw(st.booleans()):
        # (only runner labels actionlint knows without a config file: its presets)
        t["github"] = draw(st.sampled_from([
            {"runs_on": ["self-hosted", "linux"], "gpu_runs_on": ["self-hosted", "linux", "x64"]},
            {"runners": [{"runs_on": ["self-hosted", "linux", "arm64"], "cpu": 8, "memory": "32Gi", "gpu": 1,
                          "accelerator": "nvidia-tesla-t4"}]},
            {"push": {"branches": ["main"]}, "python": "3.12"},
            {"setup": False, "artifact_root": "/tmp/pipespec-artifacts"}]))
    return t


@st.composite
def valid_specs(draw):
    """A valid spec as a dict (dump it with ``yaml.safe_dump(doc, sort_keys=False)``)."""
    n = draw(st.integers(1, 6))
    names = ["s0"] + draw(st.lists(st.one_of(st.just(None), STEP_NAMES), min_size=n - 1, max_size=n - 1))
    names = [nm if nm is not None and nm not in names[:i] else f"s{i}" for i, nm in enumerate(names)]
    if len(set(names)) < n:
        names = [f"s{i}" for i in range(n)]
    params = {"a": {"type": "int", "default": draw(st.integers(0, 9))},
              "l": {"type": "list", "items": "string", "default": draw(st.lists(NAMES, min_size=1, max_size=3))},
              "s": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
              "f": {"type": "float", "default": 0.5, "minimum": 0, "maximum": 2},
              "b": {"type": "bool", "default": draw(st.booleans())}}
    if draw(st.booleans()):
        params["li"] = {"type": "list", "items": "int", "default": [1, 2]}
    if draw(st.booleans()):
        params["m"] = {"type": "map", "default": {"depth": 2, "tags": ["a"]}, "description": "options"}
        params["p"] = {"type": "path", "default": "data/in.csv"}
    doc: dict = {"pipespec": 1, "name": "gen"}
    if _one_in(draw, 3):
        doc["description"] = draw(st.sampled_from(["Generated.", "two\nlines: 'q' \"qq\" ${{ x }}"]))
    if draw(st.booleans()):
        doc["schedule"] = draw(st.sampled_from(SCHEDULES))
    doc["params"] = params
    with_secret = draw(st.booleans())
    if with_secret:
        doc["secrets"] = {"tok": draw(st.sampled_from([{}, {"description": "API token", "github": "API_TOKEN",
                                                             "env": "API_TOKEN", "kubernetes": "creds/token"}]))}
    if draw(st.booleans()):
        doc["env"] = {"MODE": _e("params.s"), "RUN_ID": _e("run.id")}
    if draw(st.booleans()):
        defaults: dict = {}
        _shared_keys(draw, defaults, gpu=False)
        if draw(st.booleans()):
            defaults["env"] = {"DAY": _e("run.date")}
        if defaults:
            doc["defaults"] = defaults
    steps: dict = {}
    fanned: set[int] = set()
    outputs_of: dict[int, dict] = {}
    for i in range(n):
        outs = {"o": "string", "m": "metrics"}
        for name, typ in draw(st.dictionaries(st.sampled_from(["n", "ls", "cfg", "art"]),
                                              st.just(None), max_size=2)).items():
            outs[name] = {"n": "int", "ls": "list", "cfg": "map", "art": draw(st.sampled_from(ARTIFACT_OUTPUTS))}[name]
        if draw(st.booleans()):
            outs["o"] = {"type": "string", "description": "a value"}
        outputs_of[i] = outs
        env: dict = {}
        s: dict = {}
        is_call = _one_in(draw, 4)
        if is_call:
            s["call"] = "steps:main"
            s["with"] = {"a": _e("params.a"), "tags": ["x", 1]}
        elif draw(st.booleans()):
            s["run"] = ["python", "step.py", str(i), _e("params.a"), 1.5, True]
        elif _one_in(draw, 4):
            s["run"] = (f"set -eu\ncat > out.txt <<EOF\nstep {i}: ${{{{ params.a }}}}\nEOF\n"
                        f"echo 'o=done' >> \"$PIPESPEC_OUTPUT\"\ncp out.txt \"${{{{ outputs.m }}}}\"\n")
        else:
            s["run"] = f"echo {i} ${{{{ params.a }}}} > \"${{{{ outputs.m }}}}\""
        s["outputs"] = outs
        if i:
            j = draw(st.integers(0, i - 1))
            read = _e(f"steps.{names[j]}.outputs.o")
            if is_call:
                s["with"]["up"] = read
            else:
                env["X"] = read
            if j not in fanned and "ls" in outputs_of[j] and draw(st.booleans()):
                s["foreach"] = _e(f"steps.{names[j]}.outputs.ls")
            elif j in fanned and _one_in(draw, 10):
                s["foreach"] = read                     # a fan-in list fans out again
            if j not in fanned and "cfg" in outputs_of[j] and draw(st.booleans()):
                env["CFG"] = _e(f"steps.{names[j]}.outputs.cfg.key['x']")
            if "art" in outputs_of[j] and draw(st.booleans()):
                art = _e(f"steps.{names[j]}.outputs.art")   # a path, or a list of paths (fan-in)
                if is_call:
                    s["with"]["art_in"] = art
                elif isinstance(s["run"], list):
                    s["run"].append(art)
                else:
                    env["ART"] = art
            if _one_in(draw, 6):
                s["if"] = draw(st.booleans())
            elif draw(st.booleans()):
                s["if"] = draw(_condition(names[j], j in fanned, outputs_of[j], params))
                s["needs"] = [names[j]]
            elif _one_in(draw, 4):
                s["needs"] = [names[draw(st.integers(0, i - 1))]]
        if "foreach" not in s and draw(st.booleans()):
            s["foreach"] = draw(st.sampled_from([_e("params.l"), ["a", "b"], [{"k": 1}, {"k": "two"}], [1, 2.5]] * 3
                                                + [_e("[params.a, 2]")]))    # (KFP and GitHub refuse this one)
        if "foreach" in s:
            fanned.add(i)
            it = "item.k" if isinstance(s["foreach"], list) and isinstance(s["foreach"][0], dict) else "item"
            if is_call:
                s["with"]["item"] = _e(it)
            else:
                env["I"] = _e(it)
            if draw(st.booleans()):
                s["parallelism"] = draw(st.integers(1, 3))
        if with_secret and _one_in(draw, 3):
            env["TOKEN"] = _e("secrets.tok")
        if _one_in(draw, 4):
            env["FLAG"] = draw(st.sampled_from([
                True, 3, 2.5, "plain", "", _e("env.HOME"), "n=" + _e("len(params.l)"),
                _e("format('{0}-{1}', params.a, run.id)"), _e("join(params.l, '+')"), _e("round(params.f, 1)"),
                _e("min(params.a, 3) * 2 - 1"), _e("params.f / 2"), _e("-params.a"), _e("[params.a, 'b']"),
                _e("params.s + '/' + run.date"), _e("contains('abc', params.s) == false"), _e("null == params.s"), _e("env.MODE") + "/x"]))
        if "m" in params and _one_in(draw, 3):
            env["DEPTH"] = _e("params.m.depth")
            env["IN"] = _e("params.p")
        if _one_in(draw, 5):
            s["description"] = draw(st.sampled_from(["Trains the model.", "it's \"quoted\"", "line one\nline two",
                                                     "ünïcödé — ✓", "#!/bin/sh; rm -rf / {{ x }} ${{ 1 }}"]))
        if env:
            s["env"] = env
        if _one_in(draw, 5):
            s["deps"] = draw(st.sampled_from([["step.py"], ["data/*.csv", "lib/"]]))
        _shared_keys(draw, s)
        steps[names[i]] = s
    doc["steps"] = steps
    # (names NAMES cannot draw: a finally step may not be named like a step, E405)
    fin = {"on_exit_all": {"run": "echo ${{ run.status }}"}}
    if draw(st.booleans()):
        report = {"run": ["echo", _e("run.id"), _e("params.s")], "env": {"STATUS": _e("run.status")}}
        if with_secret:
            report["env"]["TOKEN"] = _e("secrets.tok")
        _shared_keys(draw, report)
        fin["report_at_end"] = report
    doc["finally"] = fin
    targets = draw(_targets())
    if targets:
        doc["targets"] = targets
    return doc


# --- expressions (the text inside ${{ }}) ------------------------------------------------------

_EXPR_TOKENS = ["a", "b", "params.x", "steps.s.outputs.m", "true", "false", "null", "true.x", "nulls", "1",
                "0", "12", "1.5", "1e3", "2.5E-2", "1.", "'s'", "''", "'it''s'", "'", '"q"', "||", "&&", "==",
                "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "!", "(", ")", "[", "]", ",", ".", "=", "&", "|",
                "and", "or", "not", "len", "format", "@", "#", "\t", "\n"]


def _grammar_exprs(children):
    ops = st.sampled_from(["||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"])
    return st.one_of(
        st.tuples(children, ops, children).map(" ".join),
        st.tuples(st.sampled_from(["!", "-"]), children).map("".join),
        children.map(lambda c: f"({c})"),
        st.tuples(children, children).map(lambda p: f"{p[0]}[{p[1]}]"),
        st.tuples(children, st.sampled_from(["x", "y.z"])).map(lambda p: f"({p[0]}).{p[1]}"),
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(st.sampled_from(["len", "format", "f", "a.b"]), st.lists(children, max_size=3)).map(
            lambda p: f"{p[0]}(" + ", ".join(p[1]) + ")"),
    )


def expressions():
    """Expression texts for the parser: grammatical ones built from the grammar's rules, token
    soups (mostly not grammatical: every error path), and those with one token dropped or doubled."""
    atoms = st.sampled_from(["a", "params.x", "steps.s.outputs.m", "1", "2.5", "1e3", "'s'", "'it''s'", "true",
                             "false", "null", "true.x"])
    grammatical = st.recursive(atoms, _grammar_exprs, max_leaves=10)
    soup = st.lists(st.sampled_from(_EXPR_TOKENS), max_size=12).map(lambda ts: " ".join(ts))
    tight = st.lists(st.sampled_from(_EXPR_TOKENS), max_size=12).map("".join)

    @st.composite
    def damaged(draw):
        text = draw(grammatical)
        if not text:
            return text
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + draw(st.sampled_from(["", text[i] * 2, " ", "'", ")", "]", "."])) + text[i + 1:]

    return st.one_of(grammatical, soup, tight, damaged())
