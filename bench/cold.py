"""Case 9: cold runs of Python steps. The churn example's first run and a 10-step scikit-learn
pipeline's (bench/sklearn10), each step in its own process: ``pipespec run`` as it is and with
``--preload`` (steps forked from a Python that has imported their libraries), and the same step
functions run by ``dvc repro`` and ``snakemake``. The results must come out the same."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from . import gen, peers
from .measure import ROOT, run_once, tool

HERE = Path(__file__).resolve().parent
CHURN_DIR = ROOT / "specs" / "churn"

# name: (function, {argument: (producer, output)}, [artifact outputs], {argument: int}, {value output: type})
SKLEARN10 = {
    "make_data": ("make_data", {}, ["data"], {"rows": 3000}, {}),
    "split": ("split", {"data": ("make_data", "data")}, ["train", "test"], {}, {}),
    "scale": ("scale", {"train": ("split", "train"), "test": ("split", "test")},
              ["train_scaled", "test_scaled"], {}, {}),
    "pca": ("pca", {"train": ("scale", "train_scaled"), "test": ("scale", "test_scaled")},
            ["train_pca", "test_pca"], {}, {}),
    "fit_logreg": ("fit_logreg", {"train": ("scale", "train_scaled")}, ["model"], {}, {}),
    "fit_tree": ("fit_tree", {"train": ("scale", "train_scaled")}, ["model"], {}, {}),
    "fit_forest": ("fit_forest", {"train": ("scale", "train_scaled")}, ["model"], {"n_estimators": 100}, {}),
    "fit_knn": ("fit_knn", {"train": ("pca", "train_pca")}, ["model"], {}, {}),
    "evaluate": ("evaluate", {"logreg": ("fit_logreg", "model"), "tree": ("fit_tree", "model"),
                              "forest": ("fit_forest", "model"), "knn": ("fit_knn", "model"),
                              "test": ("scale", "test_scaled"), "test_pca": ("pca", "test_pca")},
                 ["metrics"], {}, {}),
    "report": ("report", {"metrics": ("evaluate", "metrics")}, ["summary"], {}, {"best": "string"}),
}


def sklearn10_spec() -> str:
    out = ["pipespec: 1", "name: sklearn10", "steps:"]
    for name, (fn, ins, arts, ints, values) in SKLEARN10.items():
        out += [f"  {name}:", f"    call: steps:{fn}"]
        args = [f"{a}: ${{{{ steps.{p}.outputs.{o} }}}}" for a, (p, o) in ins.items()]
        args += [f"{a}: {v}" for a, v in ints.items()]
        if args:
            out += ["    with:"] + [f"      {x}" for x in args]
        out += ["    outputs:"] + [f"      {a}: file" for a in arts] + [f"      {v}: {t}" for v, t in values.items()]
        out += ["    deps: [steps.py]"]
    return "\n".join(out) + "\n"


def _cmd(py: str, name: str) -> tuple[str, list[str], list[str]]:
    fn, ins, arts, ints, _ = SKLEARN10[name]
    words = [f"{a}={p}.{o}" for a, (p, o) in ins.items()] + [f"{a}={v}" for a, v in ints.items()]
    words += [f"{a}={name}.{a}" for a in arts]
    return (f"{py} call.py steps:{fn} " + " ".join(words), [f"{p}.{o}" for p, o in ins.values()],
            [f"{name}.{a}" for a in arts])


def dvc_yaml(py: str) -> str:
    out = ["stages:"]
    for name in SKLEARN10:
        cmd, deps, outs = _cmd(py, name)
        out += [f"  {name}:", f"    cmd: {cmd}", f"    deps: [{', '.join(deps + ['steps.py', 'call.py'])}]",
                f"    outs: [{', '.join(outs)}]"]
    return "\n".join(out) + "\n"


def snakefile(py: str) -> str:
    out = ["rule all:", '    input: "report.summary"', ""]
    for name in SKLEARN10:
        cmd, deps, outs = _cmd(py, name)
        out += [f"rule {name}:"]
        if deps:
            out += ["    input: " + ", ".join(f'"{d}"' for d in deps)]
        out += ["    output: " + ", ".join(f'"{o}"' for o in outs), f'    shell: "{cmd}"', ""]
    return "\n".join(out)


def _with_libraries() -> None:
    """The benchmarked install gets what the steps import (as a user's project venv has)."""
    py = tool("python")
    if subprocess.run([py, "-c", "import sklearn, pandas, scipy, joblib"], capture_output=True).returncode:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(CHURN_DIR / "requirements.txt")], check=True, timeout=1800)


def _metrics(store: Path, step: str) -> dict:
    import sqlite3

    db = sqlite3.connect(store / "runs.db")
    try:
        row = db.execute("select metrics_json from executions where step = ? order by ended desc limit 1",
                         (step,)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row and row[0] else {}


def _pipespec(spec: Path, preload: bool) -> list[str]:
    return [tool("pipespec"), "run", str(spec), "-j", "2", "--progress", "plain",
            *(["--preload"] if preload else [])]


def _fresh(d: Path, *extra: str):
    def reset():
        for name in (".pipespec", *extra):
            p = d / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return reset


def case_cold(ctx) -> list:
    from .cases import Row

    _with_libraries()
    reps = max(1, ctx.repeat if not ctx.quick else 1)
    rows = []
    # -- the churn example
    churn = ctx.work / "cold" / "churn"
    shutil.copytree(CHURN_DIR, churn, ignore=shutil.ignore_patterns(".pipespec", "registry", "__pycache__"))
    spec = churn / "pipeline.yaml"
    times = {False: [], True: []}
    results = {}
    reset = _fresh(churn, "registry")
    if not ctx.quick:
        run_once(_pipespec(spec, True), cwd=churn, prepare=reset)   # warm-up: page cache, .pyc files
    for _ in range(reps):                                           # interleaved: the load moves both
        for preload in (False, True):
            times[preload].append(run_once(_pipespec(spec, preload), cwd=churn, prepare=reset).seconds)
            results[preload] = (_metrics(churn / ".pipespec", "evaluate"), _metrics(churn / ".pipespec", "monitor"))
    same = results[False] == results[True] and bool(results[False][0])
    plain, pre = _median(times[False]), _median(times[True])
    rows.append(Row("9 cold Python steps", "churn example, first run (8 call: steps), -j 2", pre,
                    "pipespec run without --preload", plain, 0.6,
                    note=f"--preload; metrics {'identical' if same else 'DIFFER'}"))
    # -- ten scikit-learn steps: pipespec, dvc, snakemake on the same functions
    d = ctx.work / "cold" / "sklearn10"
    d.mkdir(parents=True, exist_ok=True)
    for f in ("steps.py", "call.py"):
        shutil.copy(HERE / "sklearn10" / f, d / f)
    spec = gen.write(d / "pipeline.yaml", sklearn10_spec())
    py = tool("python")
    times = {False: [], True: []}
    results = {}
    reset = _fresh(d)
    if not ctx.quick:
        run_once(_pipespec(spec, True), cwd=d, prepare=reset)
    for _ in range(reps):
        for preload in (False, True):
            times[preload].append(run_once(_pipespec(spec, preload), cwd=d, prepare=reset).seconds)
            results[preload] = _artifact(d / ".pipespec", "evaluate", "metrics")
    plain, pre = _median(times[False]), _median(times[True])
    same = results[False] == results[True] and results[False] is not None
    rows.append(Row("9 cold Python steps", "10 scikit-learn call: steps, first run, -j 2", pre,
                    "pipespec run without --preload", plain, 0.6,
                    note=f"--preload; metrics {'identical' if same else 'DIFFER'}"))
    ours = results[True]
    # dvc repro (one stage at a time) and snakemake --cores 2, same functions through call.py
    dvc = peers.env_exe("bench-dvc", "dvc")
    w = ctx.work / "cold" / "sklearn10-dvc"
    env = {"DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}

    def dvc_fresh():
        import os

        shutil.rmtree(w, ignore_errors=True)
        w.mkdir(parents=True)
        for f in ("steps.py", "call.py"):
            shutil.copy(HERE / "sklearn10" / f, w / f)
        subprocess.run(["git", "init", "-q"], cwd=w, check=True)
        subprocess.run([dvc, "init", "-q"], cwd=w, check=True, env={**os.environ, **env})
        gen.write(w / "dvc.yaml", dvc_yaml(py))

    dv = [run_once([dvc, "repro", "-q"], cwd=w, env=env, prepare=dvc_fresh).seconds for _ in range(max(1, min(reps, 2)))]
    dvc_same = _file_json(w / "evaluate.metrics") == ours
    rows.append(Row("9 cold Python steps", "10 scikit-learn steps, first run", pre, "dvc repro", _median(dv),
                    note=f"pipespec --preload -j 2; dvc runs one stage at a time; metrics "
                    f"{'identical' if dvc_same else 'DIFFER'}"))
    rows.append(Row("9 cold Python steps", "10 scikit-learn steps, first run", plain, "dvc repro", _median(dv),
                    note="pipespec without --preload"))
    sm = peers.env_exe("bench-snakemake", "snakemake")
    s = ctx.work / "cold" / "sklearn10-snakemake"
    s.mkdir(parents=True, exist_ok=True)
    for f in ("steps.py", "call.py"):
        shutil.copy(HERE / "sklearn10" / f, s / f)
    gen.write(s / "Snakefile", snakefile(py))

    def sm_fresh():
        for f in s.iterdir():
            if f.name not in ("steps.py", "call.py", "Snakefile"):
                shutil.rmtree(f) if f.is_dir() else f.unlink()

    st = [run_once([sm, "--cores", "2", "--quiet", "all"], cwd=s, prepare=sm_fresh).seconds
          for _ in range(max(1, min(reps, 2)))]
    sm_same = _file_json(s / "evaluate.metrics") == ours
    rows.append(Row("9 cold Python steps", "10 scikit-learn steps, first run", pre, "snakemake --cores 2",
                    _median(st), note=f"pipespec --preload -j 2; metrics {'identical' if sm_same else 'DIFFER'}"))
    rows.append(Row("9 cold Python steps", "10 scikit-learn steps, first run", plain, "snakemake --cores 2",
                    _median(st), note="pipespec without --preload"))
    return rows


def _median(xs: list[float]) -> float:
    import statistics

    return statistics.median(xs)


def _artifact(store: Path, step: str, output: str):
    runs = sorted((store / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return _file_json(runs[-1] / step / "_" / output)


def _file_json(p: Path):
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None



