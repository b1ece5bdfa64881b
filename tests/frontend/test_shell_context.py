"""The lexical context of each ${{ }} in a shell string, and the script it renders to: every
context the rendering accepts, every one it refuses (E315), and the fast path without a shell."""

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipespec import shell as S
from pipespec.expr import split_template
from pipespec.runtime.execute import _direct_argv


NAMES = {id(v): k for k, v in vars(S).items() if isinstance(v, S.Refusal)}


def ctx(text: str) -> list:
    return [c if isinstance(c, str) else NAMES.get(id(c), "LOST")
            for c in S.contexts(split_template(text))]


E = "${{ x }}"
P, D = S.PLAIN, S.DOUBLE


@pytest.mark.parametrize("text, want", [
    (f"echo {E}", [P]),
    (f"echo a{E}b --k={E}", [P, P]),
    (f'echo "a {E} b" {E}', [D, P]),
    (f"echo $(basename {E}) \"$(basename {E})\" \"$(echo \"{E}\")\"", [P, P, D]),
    (f"( cd x; echo {E} )", [P]),
    (f"echo $(cd x && (ls) && echo {E})", [P]),
    (f"# it's a comment {E}\necho {E}", [P, P]),
    (f"echo a#'{E}'", ["SINGLE"]),
    (f"cat <<EOF\n'{E}' \"{E}\"\nEOF\necho '{E}'", [D, D, "SINGLE"]),
    (f"cat <<-EOF\n\t{E}\n\tEOF\necho {E}", [D, P]),
    (f"cat <<EOF; echo {E}\nbody {E} $(echo {E})\nEOF\n", [P, D, P]),
    (f"cat <<'EOF'\n{E}\nEOF\necho {E}", ["QUOTED_HEREDOC", P]),
    (f"cat <<\\EOF\n{E}\nEOF", ["QUOTED_HEREDOC"]),
    (f"cat <<E\"O\"F\n{E}\nEOF\necho \"{E}\"", ["QUOTED_HEREDOC", D]),
    (f"cat <<A <<'B'\n{E}\nA\n{E}\nB\necho {E}", [D, "QUOTED_HEREDOC", P]),
    (f"echo 'a {E}'", ["SINGLE"]),
    (f"echo 'a''{E}'", ["SINGLE"]),
    (f"echo 'it'\\''s' {E}", [P]),
    (f"echo `echo {E}` {E}", ["BACKTICK", P]),
    (f"echo \"`echo {E}`\"", ["BACKTICK"]),
    (f"echo ${{X:-{E}}} {E}", ["BRACES", P]),
    (f"echo $(( {E} + 1 )) (({E})) {E}", ["ARITH", "ARITH", P]),
    (f"(({E}))", ["ARITH"]),
    (f"[[ $a -eq {E} ]] && echo {E}", ["ARITH", P]),
    (f"let n={E}; echo {E}", ["ARITH", P]),
    (f"eval \"echo {E}\" && echo {E}", ["EVAL", P]),
    (f"eval \"$(echo {E})\"\necho {E}", ["EVAL", P]),
    (f"echo \\{E} \"\\{E}\" ${E}", ["AFTER_BACKSLASH", "AFTER_BACKSLASH", "AFTER_DOLLAR"]),
    (f"echo $\"{E}\"", ["LOCALE"]),
    (f"echo $'{E}'", ["ANSI"]),
    (f"sh -c \"echo {E}\"", ["SHELL_C"]),
    (f"/bin/bash -o pipefail -ec \"x {E}\" && echo {E}", ["SHELL_C", P]),
    (f"docker run img sh -c \"$(echo {E})\" {E}", ["SHELL_C", P]),
    (f"sh -c {E}", ["SHELL_C"]),
    (f"sh -c 'echo \"$1\"' sh {E} \"{E}\"", [P, D]),
    (f"sh script.sh {E}", [P]),
    (f"\\sh -c \"{E}\"; 'e'val {E}; $SHELL -c {E}", ["SHELL_C", "EVAL", "SHELL_C"]),
    (f"[[ \"]]\" -eq {E} ]] {E}", ["ARITH", P]),
])
def test_contexts(text, want):
    assert ctx(text) == want


@pytest.mark.parametrize("text", [
    f"echo $'a\\'' {E}",                     # bash and dash end $'...' at different quotes
    f"cat <<< {E}",
    f"echo ${{X:-\"a\"}} {E}",
    f"echo $(case a in a) echo {E};; esac)",
    f"echo $[1] {E}",
    f"cat <<EOF\n$(echo\nEOF\n{E}",            # the body ends inside its $( )
    f"echo $(( 1 + 'a' )) {E}",
    f"cat <<{E}\nx\n{E}\n",
    f"echo \"unclosed {E}",
])
def test_undecidable_is_refused(text):
    assert all(c not in (P, D) for c in ctx(text)), ctx(text)


def test_render_quotes_each_reference_for_its_context():
    t = split_template(f"echo {E} \"[{E}]\" ${{{{ y }}}}\ncat <<EOF\n{E}\nEOF")
    script, bindings = S.render(t)
    assert script == ('echo "${PIPESPEC_EXPR_1}" "[${PIPESPEC_EXPR_1}]" "${PIPESPEC_EXPR_2}"\n'
                      "cat <<EOF\n${PIPESPEC_EXPR_1}\nEOF")
    assert bindings == (("PIPESPEC_EXPR_1", 0), ("PIPESPEC_EXPR_2", 2))
    with pytest.raises(ValueError):
        S.render(split_template(f"echo '{E}'"))


@pytest.mark.parametrize("text, want", [
    (f"echo '{E}' \"'{E}'\"", ["splice", D]),
    (f"echo `expr {E} + 1` $(( {E} + 1 )) ${{X:-{E}}} $\"{E}\"", ["bare"] * 4),
    (f"eval \"echo {E}\"; [[ {E} -eq 1 ]]; let n={E}", [D, P, P]),
    (f"sh -c \"exit {E}\"", [D]),
    (f"cat <<'EOF'\n{E}\nEOF", ["QUOTED_HEREDOC"]),
    (f"echo \\{E} ${E} $'{E}'", ["AFTER_BACKSLASH", "AFTER_DOLLAR", "ANSI"]),
])
def test_numbers_and_bools_stand_in_more_places(text, want):
    n = len(split_template(text).exprs)
    got = [c if isinstance(c, str) else NAMES.get(id(c), "LOST")
           for c in S.contexts(split_template(text), frozenset(range(n)))]
    assert got == want


def test_a_spliced_number_reaches_the_command(tmp_path):
    script, bindings = S.render(split_template(f"printf %s '{{\"n\": {E}}}' $(( {E} * 2 ))"), frozenset({0, 1}))
    assert script == """printf %s '{"n": '"${PIPESPEC_EXPR_1}"'}' $(( ${PIPESPEC_EXPR_1} * 2 ))"""
    r = subprocess.run(["/bin/sh", "-c", script], env={"PIPESPEC_EXPR_1": "-12"}, capture_output=True,
                       text=True, timeout=10)
    assert r.stdout == '{"n": -12}-24'


@pytest.mark.parametrize("text", [
    f"echo {E}", f'echo "{E}"', f"echo \"$(echo {E})\"", f"cat <<EOF\n{E}\nEOF",
    f"cat <<EOF; echo {E}\n{E}\nEOF", f"echo a{E}b", f"# {E}\necho {E}",
])
def test_rendered_scripts_pass_the_value_verbatim_through_sh(text, tmp_path):
    value = "$(touch PWNED) `x` \"; '\n* -n EOF\n"
    script, bindings = S.render(split_template(text))
    env = {name: value for name, _ in bindings}
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=10,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.iterdir())
    # what echo printed holds the value itself, unsplit, unglobbed
    assert value.rstrip("\n") in r.stdout


def test_direct_argv_fast_path():
    assert _direct_argv('python t.py "${PIPESPEC_EXPR_1}" --k=v', {"PIPESPEC_EXPR_1": "a b"}) is None  # '='
    assert _direct_argv('python t.py a"${PIPESPEC_EXPR_1}"b "${PIPESPEC_EXPR_2}" x',
                        {"PIPESPEC_EXPR_1": " *$ ", "PIPESPEC_EXPR_2": ""}) == ["python", "t.py", "a *$ b", "", "x"]
    assert _direct_argv('"${PIPESPEC_EXPR_1}" x', {"PIPESPEC_EXPR_1": "ls"}) is None   # the command is a value
    assert _direct_argv('echo "${PIPESPEC_EXPR_1}"', {"PIPESPEC_EXPR_1": "x"}) is None  # a builtin
    assert _direct_argv("python  t.py\tz", {}) == ["python", "t.py", "z"]
    assert _direct_argv("python a\u00a0b", {}) == ["python", "a\u00a0b"]      # sh splits on blanks only
    assert _direct_argv('python "${HOME}"', {}) is None


def test_deep_nesting_is_refused_not_a_crash():
    text = "echo " + '"$(' * 400 + E + ')"' * 400
    assert ctx(text) == ["LOST"]


# -- the property: whatever the text around it, an accepted ${{ }} never runs its value --------

PIECES = st.sampled_from(["'", '"', "`", "$", "(", ")", "{", "}", "\\", "#", ";", " ", "\n", "<<",
                          "EOF", "<<'EOF'", "$(", "${", "$((", "))", "echo", "eval", "a", "=", "|", E])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES, max_size=24))
def test_accepted_expressions_never_run_their_value(tmp_path, pieces):
    text = "".join(pieces)
    try:
        template = split_template(text)
    except Exception:
        return                                   # not a template (e.g. '${{' left open)
    contexts = S.contexts(template)
    assert len(contexts) == len(template.exprs)
    if not template.exprs or any(isinstance(c, S.Refusal) for c in contexts):
        return
    script, bindings = S.render(template)
    hostile = "$(touch PWNED1)`touch PWNED2`'\"; touch PWNED3; \"'\nEOF\ntouch PWNED4\n"
    env = {name: hostile for name, _ in bindings}
    env["PATH"] = "/usr/bin:/bin"
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    try:
        subprocess.run(["/bin/sh", "-c", script], env=env, cwd=work, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        pass
    assert not [p for p in work.iterdir() if p.name.startswith("PWNED")], script


@pytest.mark.parametrize("run", [
    "    run: echo 'a ${{ params.x }}'\n",
    "    run: \"echo 'a ${{ params.x }}'\"\n",
    "    run: |\n      echo one\n      echo 'a ${{ params.x }}'\n",
])
def test_e315_points_at_the_expression(run):
    from pipespec.frontend import check_text
    text = "pipespec: 1\nname: cols\nparams:\n  x: {type: string, default: a}\nsteps:\n  s:\n" + run
    ds = [d for d in check_text(text, "cols.yaml").diagnostics if d.code == "E315"]
    assert len(ds) == 1 and ds[0].is_error
    s = ds[0].span
    assert text.split("\n")[s.line - 1][s.col - 1:s.end_col - 1] == "${{ params.x }}"
