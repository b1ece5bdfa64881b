"""A backend from another package, registered through real entry points (a dist-info on
``sys.path``, as pip writes one), is configured, validated and compiled end to end through the
CLI: ``targets.argo`` is checked against argo's own options with positions, ``secrets.X.vault``
against its store, and ``pipespec validate`` reads only its light options module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

OPTIONS_PY = '''
from dataclasses import dataclass

from pipespec.backends.options import BaseOptions, SecretStore, TargetOptions, WorkerSink


@dataclass(frozen=True)
class ArgoOptions(BaseOptions):
    namespace: str = "default"
    parallel: int | None = None


VAULT = SecretStore("vault", {"description": "Vault path.", "type": "string", "pattern": "^[a-z]+(/[a-z_]+)*$"},
                    lambda name: "kv/" + name)

OPTIONS = TargetOptions(
    name="argo", description="Argo Workflows (a test backend).", options=ArgoOptions,
    schema={"namespace": {"description": "Namespace.", "type": "string", "minLength": 1},
            "parallel": {"description": "Parallelism.", "type": "integer", "minimum": 1}},
    secret_stores=(VAULT,),
    worker_sinks=(WorkerSink("ARGO_RESULT", "pipespec_argo.sink:ResultFile"),))
'''

SINK_PY = '''
import json


class ResultFile:
    def __init__(self, path):
        self.path = path

    def write(self, step, result):
        with open(self.path, "w") as f:
            json.dump({"step": step.name, "ok": result.ok, "values": result.values}, f, sort_keys=True)
'''

BACKEND_PY = '''
from pipespec.backends.base import FEATURES, NATIVE, Backend

from .options import OPTIONS, VAULT


class ArgoBackend(Backend):
    name = "argo"
    description = "Argo Workflows (a test backend)"
    extension = ".argo"
    options = OPTIONS
    capabilities = {f: (NATIVE, "") for f in FEATURES}

    def generate(self, pipe, opts):
        lines = [f"# {line}" for line in self.header_lines(pipe, opts)]
        lines.append(f"namespace: {self.opts.namespace}")
        lines.append(f"parallel: {self.opts.parallel}")
        lines += [f"secret {s.name}: {VAULT.ref(s)} as ${s.env}" for s in pipe.secrets]
        lines += [f"step {s.name}" for s in pipe.all_steps]
        return "\\n".join(lines) + "\\n"
'''

ENTRY_POINTS = """[pipespec.backends]
argo = pipespec_argo.backend:ArgoBackend

[pipespec.target_options]
argo = pipespec_argo.options:OPTIONS
"""

SPEC = """pipespec: 1
name: demo
secrets:
  token: {vault: team/token}
  other: {}
targets:
  argo:
    namespace: ml
    parallel: 4
steps:
  a:
    env: {TOKEN: "${{ secrets.token }}", OTHER: "${{ secrets.other }}"}
    run: echo a
"""


def _dist(site, name: str, entry_points: str, files: dict[str, str]) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    for rel, text in files.items():
        p = site / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    _dist(site, "pipespec_argo", ENTRY_POINTS, {
        "pipespec_argo/__init__.py": "", "pipespec_argo/options.py": OPTIONS_PY,
        "pipespec_argo/backend.py": BACKEND_PY, "pipespec_argo/sink.py": SINK_PY})
    return site


def _run(site, *args, cwd=None, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), NO_COLOR="1")
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "pipespec", *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def _spec(tmp_path, text=SPEC):
    p = tmp_path / "pipeline.yaml"
    p.write_text(text)
    return str(p)


def test_configured_validated_and_compiled_through_the_cli(tmp_path, site):
    spec = _spec(tmp_path)
    r = _run(site, "validate", spec)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run(site, "compile", spec, "--target", "argo")
    assert r.returncode == 0, r.stderr
    assert "# Target: argo. pipespec " in r.stdout and ". IR digest: sha256:" in r.stdout
    assert "namespace: ml\nparallel: 4\n" in r.stdout
    # the written reference, and the store's default for the secret that names none
    assert "secret token: team/token as $TOKEN\nsecret other: kv/other as $OTHER\nstep a\n" in r.stdout
    r = _run(site, "targets")
    assert r.returncode == 0 and "argo" in r.stdout and "Argo Workflows (a test backend)" in r.stdout
    # targets.argo.output (a COMMON option every target takes) drives compile --all
    spec = _spec(tmp_path, SPEC.replace("    parallel: 4\n", "    parallel: 4\n    output: out/demo.argo\n"))
    r = _run(site, "compile", spec, "--all")
    assert r.returncode == 0, r.stderr
    assert "step a\n" in (tmp_path / "out" / "demo.argo").read_text()


def test_options_are_checked_against_the_target_fragment_with_positions(tmp_path, site):
    spec = _spec(tmp_path, SPEC.replace("    namespace: ml\n    parallel: 4\n", "    namespce: ml\n    parallel: many\n"))
    r = _run(site, "validate", "--color", "never", spec)
    assert r.returncode == 1
    assert "pipeline.yaml:8:5: error[E201]: unknown key 'namespce' in targets.argo" in r.stdout
    assert "did you mean 'namespace'?" in r.stdout
    assert "pipeline.yaml:9:15: error[E200]: targets.argo.parallel must be an integer, not a string" in r.stdout


def test_a_store_reference_is_checked_against_the_store_schema(tmp_path, site):
    spec = _spec(tmp_path, SPEC.replace("{vault: team/token}", "{vault: 'Team Token'}").replace(
        "other: {}", "other: {vaults: x}"))
    r = _run(site, "validate", "--color", "never", spec)
    assert r.returncode == 1
    assert "pipeline.yaml:4:18: error[E203]: secrets.token.vault: 'Team Token' does not match" in r.stdout
    assert "error[E201]: unknown key 'vaults' in secrets.other" in r.stdout and "did you mean 'vault'?" in r.stdout


def test_an_unknown_target_is_E201_with_a_hint_over_the_installed_ones(tmp_path, site):
    spec = _spec(tmp_path, SPEC.replace("  argo:\n", "  argoo:\n"))
    r = _run(site, "validate", "--color", "never", spec)
    assert r.returncode == 1
    assert "pipeline.yaml:7:3: error[E201]: unknown key 'argoo' in targets" in r.stdout
    assert "did you mean 'argo'?" in r.stdout


def test_without_the_package_the_target_is_unknown(tmp_path):
    spec = _spec(tmp_path)
    r = _run(tmp_path / "empty", "validate", "--color", "never", spec)
    assert r.returncode == 1
    assert "pipeline.yaml:7:3: error[E201]: unknown key 'argo' in targets" in r.stdout
    assert "error[E201]: unknown key 'vault' in secrets.token" in r.stdout


def test_validate_imports_only_the_options_module(tmp_path, site):
    code = ("import sys; from pipespec.cli import main; rc = main(['validate', '-q', sys.argv[1]]); "
            "print(rc, sorted(m for m in sys.modules if m.startswith('pipespec_argo') or m == 'jinja2'))")
    r = _run(site, _spec(tmp_path), code=code)
    assert r.stdout.strip().splitlines()[-1] == "0 ['pipespec_argo', 'pipespec_argo.options']", r.stdout + r.stderr


def test_a_declaration_that_does_not_load_is_E230(tmp_path, site):
    _dist(site, "pipespec_broken", "[pipespec.backends]\nbroken = pipespec_broken:B\n\n"
          "[pipespec.target_options]\nbroken = pipespec_broken:OPTIONS\n",
          {"pipespec_broken.py": "raise ImportError('needs a newer pipespec')\n"})
    spec = _spec(tmp_path, SPEC.replace("targets:\n", "targets:\n  broken: {x: 1}\n"))
    r = _run(site, "validate", "--color", "never", spec)
    assert r.returncode == 1, r.stdout
    assert ("pipeline.yaml:7:3: error[E230]: target 'broken' is installed, but its options cannot be loaded: "
            "ImportError: needs a newer pipespec") in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    # the other installed target is still checked
    assert "argo" not in r.stdout


def test_the_target_declares_a_result_sink_for_its_workers(tmp_path, site):
    """pipespec exec adds the sinks a target declares for its workers' environment (as GitHub's
    $GITHUB_OUTPUT): here argo's, when its workers' environment names it (PIPESPEC_TARGET) and
    sets ARGO_RESULT; without PIPESPEC_TARGET no entry point is read and nothing is written."""
    spec = _spec(tmp_path, "pipespec: 1\nname: demo\nsteps:\n  a:\n    outputs: {n: int}\n"
                 "    run: echo n=3 >> \"$PIPESPEC_OUTPUT\"\n")
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONPATH=str(site), ARGO_RESULT=str(out), PIPESPEC_TARGET="argo")
    env.pop("GITHUB_OUTPUT", None)
    r = subprocess.run([sys.executable, "-m", "pipespec", "exec", spec, "--step", "a"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == '{"ok": true, "step": "a", "values": {"n": 3}}'
    out.unlink()
    env.pop("PIPESPEC_TARGET")
    r = subprocess.run([sys.executable, "-m", "pipespec", "exec", spec, "--step", "a"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not out.exists(), r.stderr
