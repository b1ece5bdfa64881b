"""`pipespec import dvc.yaml`: a DVC pipeline (written after DVC's documented examples) becomes
a spec that validates, compiles to every target, runs on the local runner, and — in the slow
tier — produces the same files as `dvc repro` of the original."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dvc_project import OUTPUT_FILES, write_project


def _pipespec(*args, cwd, check=0, timeout=120):
    r = subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == check, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def project(tmp_path):
    write_project(tmp_path)
    return tmp_path


def test_the_imported_spec_maps_every_part_of_the_dvc_file(project):
    r = _pipespec("import", "dvc.yaml", "-o", "pipeline.yaml", cwd=project)
    spec = yaml.safe_load((project / "pipeline.yaml").read_text())
    st = spec["steps"]
    assert list(st) == ["prepare", "featurize", "train", "evaluate", "sweep", "grid"]
    # outs named in the command become outputs; deps produced by a stage, references to it
    assert st["prepare"]["run"] == "python3 src/prepare.py data/data.csv ${{ outputs.prepared }}"
    assert st["prepare"]["outputs"] == {"prepared": "dir"}
    assert st["prepare"]["deps"] == ["data/data.csv", "params.yaml", "src/prepare.py"]
    assert st["featurize"]["run"] == ("python3 src/featurize.py ${{ steps.prepare.outputs.prepared }} "
                                      "${{ outputs.features }} ${{ params.featurize_scale }}")
    # ${...} of params.yaml in a command: a typed param
    assert spec["params"]["featurize_scale"] == {"type": "int", "default": 3}
    # a script with hard-coded paths: the artifacts are copied in, the metrics file out
    ev = st["evaluate"]["run"]
    assert ev.startswith("cp ${{ steps.train.outputs.model }} model.json && ")
    assert ev.endswith("python3 src/evaluate.py && cp eval/metrics.json ${{ outputs.metrics }}")
    assert st["evaluate"]["outputs"] == {"metrics": "metrics"}
    # foreach over a params list; matrix as one item per combination; wdir
    assert st["sweep"]["foreach"] == "${{ params.sweep_alphas }}"
    assert spec["params"]["sweep_alphas"] == {"type": "list", "default": [1, 2, 4]}
    assert st["sweep"]["run"] == "python3 src/fit.py ${{ steps.featurize.outputs.features }} ${{ item }} ${{ outputs.fit }}"
    assert st["grid"]["foreach"] == [{"kind": "mean", "power": 1}, {"kind": "mean", "power": 2},
                                     {"kind": "max", "power": 1}, {"kind": "max", "power": 2}]
    assert st["grid"]["run"].startswith("cd grid && python3 ../src/grid.py ${{ item.kind }} ${{ item.power }} && cp ")
    assert st["grid"]["deps"] == ["src/grid.py"]
    # what pipespec cannot do is said, with the stage and its line, and kept in the header
    assert "dvc.yaml:3:5: note: stage 'prepare' reads prepare.seed, prepare.split from params.yaml itself" in r.stderr
    assert "#  - line 3: stage 'prepare' reads prepare.seed" in (project / "pipeline.yaml").read_text()
    assert "wrote pipeline.yaml (2 notes)" in r.stderr


def test_the_imported_spec_compiles_to_every_target(project):
    _pipespec("import", "dvc.yaml", "-o", "pipeline.yaml", cwd=project)
    _pipespec("validate", "pipeline.yaml", cwd=project)
    for target in ("airflow", "kubeflow", "github"):
        r = _pipespec("compile", "pipeline.yaml", "--target", target, cwd=project)
        assert r.stdout and "error" not in r.stderr, (target, r.stderr)


def test_unknown_parts_are_named_not_dropped(tmp_path):
    (tmp_path / "dvc.yaml").write_text("""\
stages:
  Train-Model:
    cmd: python3 train.py
    frozen: true
    plots:
      - plots/loss.csv
    outs:
      - model.bin:
          persist: true
    meta: {owner: me}
    mystery: 1
""")
    r = _pipespec("import", "dvc.yaml", cwd=tmp_path)
    notes = r.stderr
    for text in ("stage 'Train-Model' is step 'train_model'", "plots: are not imported", "persist: true on model.bin",
                 "is frozen", "meta: is not imported", "'mystery:' is not imported"):
        assert text in notes, text
    spec = yaml.safe_load(r.stdout)
    assert spec["steps"]["train_model"]["run"] == "python3 train.py && cp model.bin ${{ outputs.model }}"


def test_not_a_dvc_file_is_a_diagnostic(tmp_path):
    (tmp_path / "dvc.yaml").write_text("jobs: {}\n")
    r = _pipespec("import", "dvc.yaml", cwd=tmp_path, check=1)
    assert "dvc.yaml:1:1: error[E800]: a dvc.yaml holds a 'stages:' mapping; this file has none" in r.stderr
    r = _pipespec("import", "nope.yaml", cwd=tmp_path, check=2)
    assert "nope.yaml: no such file" in r.stderr


def test_a_stage_name_or_path_cannot_become_yaml_or_shell(tmp_path):
    """A path with a quote, a newline in a stage name: the spec is still the data it was."""
    (tmp_path / "dvc.yaml").write_text('stages:\n  "a\\nb: x":\n    cmd: python3 t.py\n    outs:\n'
                                       '      - "it\'s; rm -rf x.txt"\n')
    r = _pipespec("import", "dvc.yaml", cwd=tmp_path)
    head = [l for l in r.stdout.splitlines() if l.startswith("#")]
    assert all(l.startswith("#") for l in head) and len(head) >= 2
    spec = yaml.safe_load(r.stdout)
    [(name, step)] = spec["steps"].items()
    assert name == "a_b_x" and step["run"] == "python3 t.py && cp 'it'\"'\"'s; rm -rf x.txt' ${{ outputs.it_s_rm_rf_x }}"


def _artifact_of(db: Path, step: str, output: str, item_index: int = -1) -> str:
    with sqlite3.connect(db) as c:
        row = c.execute("SELECT output_paths FROM executions WHERE step=? AND item_index=? ORDER BY ended DESC LIMIT 1",
                        (step, item_index)).fetchone()
    return json.loads(row[0])[output]


# where each file of OUTPUT_FILES is in the pipespec run: (step, output, index, file inside a dir)
WHERE = {"data/prepared/train.csv": ("prepare", "prepared", -1, "train.csv"),
         "data/prepared/test.csv": ("prepare", "prepared", -1, "test.csv"),
         "data/features/train.json": ("featurize", "features", -1, "train.json"),
         "data/features/test.json": ("featurize", "features", -1, "test.json"),
         "model.json": ("train", "model", -1, None), "eval/metrics.json": ("evaluate", "metrics", -1, None),
         "fits/fit_1.json": ("sweep", "fit", 0, None), "fits/fit_2.json": ("sweep", "fit", 1, None),
         "fits/fit_4.json": ("sweep", "fit", 2, None),
         "grid/out_mean_1.txt": ("grid", "out", 0, None), "grid/out_mean_2.txt": ("grid", "out", 1, None),
         "grid/out_max_1.txt": ("grid", "out", 2, None), "grid/out_max_2.txt": ("grid", "out", 3, None)}


def test_the_local_run_makes_the_files_the_dvc_file_describes(project):
    _pipespec("import", "dvc.yaml", "-o", "pipeline.yaml", cwd=project)
    r = _pipespec("run", "pipeline.yaml", "--progress", "plain", cwd=project)
    assert "11 ran" in r.stdout
    for rel in OUTPUT_FILES:
        step, out, idx, inner = WHERE[rel]
        art = Path(_artifact_of(project / ".pipespec" / "runs.db", step, out, idx))
        assert (art / inner if inner else art).is_file(), rel
    r = _pipespec("run", "pipeline.yaml", "--progress", "plain", cwd=project)
    assert "0 ran, 11 cached" in r.stdout


@pytest.mark.slow
def test_the_same_outputs_as_dvc_repro(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import peers

    dvc = peers.env_exe("bench-dvc", "dvc")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}
    a, b = tmp_path / "dvc", tmp_path / "pipespec"
    write_project(a)
    write_project(b)
    subprocess.run(["git", "init", "-q"], cwd=a, check=True, timeout=60)
    subprocess.run([dvc, "init", "-q"], cwd=a, check=True, env=env, timeout=300)
    r = subprocess.run([dvc, "repro", "-q"], cwd=a, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    _pipespec("import", "dvc.yaml", "-o", "pipeline.yaml", cwd=b)
    _pipespec("run", "pipeline.yaml", "--progress", "plain", cwd=b, timeout=300)
    db = b / ".pipespec" / "runs.db"
    for rel in OUTPUT_FILES:
        step, out, idx, inner = WHERE[rel]
        art = Path(_artifact_of(db, step, out, idx))
        mine = (art / inner if inner else art).read_bytes()
        assert mine == (a / rel).read_bytes(), rel
    shutil.rmtree(a / ".dvc" / "cache", ignore_errors=True)
