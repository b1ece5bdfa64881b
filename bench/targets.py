"""Case ``targets`` (opt-in, minutes): time to result of the churn example on every target —
``pipespec run`` (as it is and with ``--preload``), ``airflow dags test``, a real Airflow
deployment (scheduler, LocalExecutor, api-server, dag-processor), kfp.local and act — beside
each one's fixed start: the same target running a one-step pipeline (``run: "true"``), and for
the deployment also the time to bring it up. The harnesses are the slow tests' own
(tests/tooling/verify.py, tests/airflow_deployment.py), in their cached envs.

``python -m bench --case targets`` (not part of a plain ``python -m bench``)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .measure import ROOT, run_once, tool

TRIVIAL = "pipespec: 1\nname: trivial\nsteps:\n  one:\n    run: \"true\"\n"


def _harness():
    for p in (ROOT / "tests", ROOT / "tests" / "tooling"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    import airflow_support
    import verify

    return verify, airflow_support


def _project(base: Path, text: str) -> Path:
    """A git project holding one spec at trivial/pipeline.yaml (the compiled files name the spec
    relative to the git top level)."""
    spec = base / "trivial" / "pipeline.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    subprocess.run(["git", "init", "-q", str(base)], check=True)
    return spec


def _timed(fn):
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def _compile(backend: str, spec: Path, spec_path: str | None = None) -> str:
    from pipespec.backends.base import CompileOptions
    from pipespec.frontend import load_spec

    mod = importlib.import_module(f"pipespec.backends.{backend}")
    cls = {"airflow": "AirflowBackend", "kubeflow": "KubeflowBackend", "github": "GithubBackend"}[backend]
    res = getattr(mod, cls)().compile(load_spec(str(spec)).pipeline, CompileOptions(spec_path=spec_path or str(spec)))
    if not res.ok:
        raise RuntimeError([d.message for d in res.diagnostics])
    return res.text


def _local(ctx, work: Path) -> list[tuple]:
    from .cold import _with_libraries

    _with_libraries()
    churn = work / "local" / "churn"
    shutil.copytree(ROOT / "specs" / "churn", churn, ignore=shutil.ignore_patterns(".pipespec", "registry"))
    triv = work / "local" / "trivial"
    triv.mkdir(parents=True)
    (triv / "pipeline.yaml").write_text(TRIVIAL)

    def fresh(d):
        return lambda: [shutil.rmtree(d / n, ignore_errors=True) for n in (".pipespec", "registry")]
    run = [tool("pipespec"), "run", "-j", "2", "--progress", "plain"]
    t = run_once(run + [str(triv / "pipeline.yaml")], prepare=fresh(triv)).seconds
    plain = run_once(run + [str(churn / "pipeline.yaml")], prepare=fresh(churn)).seconds
    pre = run_once(run + ["--preload", str(churn / "pipeline.yaml")], prepare=fresh(churn)).seconds
    return [("pipespec run (local runner)", plain, t, ""),
            ("pipespec run --preload", pre, t, "")]


def _airflow_dags_test(verify, af, work: Path) -> list[tuple]:
    proj = work / "af" / "proj"
    dag = work / "af" / "churn.py"
    af.compile_dag(af.copy_churn(proj), dag, af.CHURN_SPEC)
    tproj = work / "af" / "tproj"
    tspec = _project(tproj, TRIVIAL)
    tdag = work / "af" / "trivial.py"
    af.compile_dag(tspec, tdag, "trivial/pipeline.yaml")
    verify.ensure("airflow", with_pipespec=True, quiet=True)
    old = os.environ.get("PIPESPEC_PROJECT_DIR")
    try:
        os.environ["PIPESPEC_PROJECT_DIR"] = str(tproj)
        t, rep_t = _timed(lambda: verify.airflow_run(tdag, "trivial", {}, workdir=work / "af" / "t",
                                                     with_pipespec=True, timeout=600))
        os.environ["PIPESPEC_PROJECT_DIR"] = str(proj)
        c, rep = _timed(lambda: verify.airflow_run(dag, "churn", {}, workdir=work / "af" / "c",
                                                   with_pipespec=True, timeout=900))
    finally:
        if old is None:
            os.environ.pop("PIPESPEC_PROJECT_DIR", None)
        else:
            os.environ["PIPESPEC_PROJECT_DIR"] = old
    ok = rep.get("run_state") == "success" and rep_t.get("run_state") == "success"
    return [("airflow dags test", c, t, "" if ok else f"run_state {rep.get('run_state')}/{rep_t.get('run_state')}")]


def _airflow_scheduler(verify, af, work: Path) -> list[tuple]:
    """A deployment as the slow tests start one (tests/airflow_deployment.py): two DAGs, the
    trivial one triggered first (the per-run fixed cost once the deployment is up)."""
    from airflow_deployment import Deployment

    base = work / "sched"
    proj, dags = base / "proj", base / "dags"
    dags.mkdir(parents=True)
    af.compile_dag(af.copy_churn(proj), dags / "churn.py", af.CHURN_SPEC)
    (proj / "trivial").mkdir()
    (proj / "trivial" / "pipeline.yaml").write_text(TRIVIAL)
    af.compile_dag(proj / "trivial" / "pipeline.yaml", dags / "trivial.py", "trivial/pipeline.yaml")
    dep = Deployment.create(base, dags, proj)
    t0 = time.monotonic()
    try:
        dep.up(["churn", "trivial"], timeout=300)
        up = time.monotonic() - t0
        states = {}

        def one(dag_id):
            run = dep.wait_run(dag_id, dep.trigger(dag_id, {}))
            states[dag_id] = run["state"]
        t, _ = _timed(lambda: one("trivial"))
        c, _ = _timed(lambda: one("churn"))
    finally:
        dep.stop_all()
    note = f"deployment up (db migrate, api-server, scheduler, dag-processor, DAGs parsed) in {up:.1f} s, not counted"
    if set(states.values()) != {"success"}:
        note += f"; states {states}"
    return [("Airflow scheduler (LocalExecutor), triggered over the REST API", c, t, note)]


def _kfp_local(verify, work: Path) -> list[tuple]:
    out = work / "kfp" / "churn.yaml"
    out.parent.mkdir(parents=True)
    out.write_text(_compile("kubeflow", ROOT / "specs" / "churn" / "pipeline.yaml"))
    tproj = work / "kfp" / "tproj"
    tspec = _project(tproj, TRIVIAL)
    tout = work / "kfp" / "trivial.yaml"
    tout.write_text(_compile("kubeflow", tspec))
    old = os.environ.get("PIPESPEC_PROJECT_DIR")
    try:
        os.environ["PIPESPEC_PROJECT_DIR"] = str(tproj)
        t, rep_t = _timed(lambda: verify.kfp_local_run(tout, {}, with_pipespec=True, workdir=work / "kfp" / "t"))
        os.environ["PIPESPEC_PROJECT_DIR"] = str(ROOT)
        c, rep = _timed(lambda: verify.kfp_local_run(out, {"registry": str(work / "kfp" / "registry")},
                                                     with_pipespec=True, workdir=work / "kfp" / "c"))
    finally:
        if old is None:
            os.environ.pop("PIPESPEC_PROJECT_DIR", None)
        else:
            os.environ["PIPESPEC_PROJECT_DIR"] = old
    ok = rep.get("ok") and rep_t.get("ok")
    return [("kfp.local (SubprocessRunner)", c, t, "" if ok else f"errors {rep.get('errors') or rep_t.get('errors')}")]


def _act(verify, work: Path) -> list[tuple]:
    def project(name: str, text: str, steps: bool) -> Path:
        d = work / "act" / name
        d.mkdir(parents=True)
        if steps:
            shutil.copy(ROOT / "specs" / "churn" / "steps.py", d)
        (d / "pipeline.yaml").write_text(text + f"\ntargets:\n  github:\n    setup: false\n    artifact_root: "
                                         f"{d / 'root'}\n    spec_path: {d / 'pipeline.yaml'}\n")
        wf = d / "wf.yml"
        wf.write_text(_compile("github", d / "pipeline.yaml"))
        return wf
    churn = project("churn", (ROOT / "specs" / "churn" / "pipeline.yaml").read_text(), True)
    triv = project("trivial", TRIVIAL, False)
    t, rep_t = _timed(lambda: verify.act_run(triv, {}, workdir=work / "act" / "t", timeout=600))
    c, rep = _timed(lambda: verify.act_run(churn, {}, workdir=work / "act" / "c", timeout=900))
    ok = rep.get("ok") and rep_t.get("ok")
    return [("act (GitHub Actions, self-hosted on this machine)", c, t,
             "" if ok else f"errors {rep.get('errors') or rep_t.get('errors')}")]


def case_targets(ctx) -> list:
    from .cases import Row

    work = ctx.work / "targets"
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # pipespec for act
    verify, af = _harness()
    got: list[tuple] = []
    for part in (lambda: _local(ctx, work), lambda: _airflow_dags_test(verify, af, work),
                 lambda: _airflow_scheduler(verify, af, work), lambda: _kfp_local(verify, work),
                 lambda: _act(verify, work)):
        try:
            got += part()
        except Exception as e:            # one target that cannot run here must not hide the others
            got.append((getattr(part, "__name__", "target"), 0.0, None, f"failed: {type(e).__name__}: {e}"[:300]))
        print(json.dumps(got[-1][:3]), file=sys.stderr, flush=True)
    return [Row("targets time to result", f"churn end to end: {what}" + (f" — {note}" if note else ""), churn,
                "the same target, a one-step pipeline (fixed start)", fixed)
            for what, churn, fixed, note in got]
