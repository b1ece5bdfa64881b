"""A DVC project written after DVC's own documented examples (the get-started pipeline:
prepare -> featurize -> train -> evaluate with params.yaml and a metrics file; a foreach stage
over a list from params.yaml; a matrix stage; wdir), small enough to run in seconds."""

from __future__ import annotations

import textwrap
from pathlib import Path

DVC_YAML = """\
stages:
  prepare:
    cmd: python3 src/prepare.py data/data.csv data/prepared
    deps:
      - data/data.csv
      - src/prepare.py
    params:
      - prepare.seed
      - prepare.split
    outs:
      - data/prepared
  featurize:
    cmd: python3 src/featurize.py data/prepared data/features ${featurize.scale}
    deps:
      - data/prepared
      - src/featurize.py
    outs:
      - data/features
  train:
    cmd: python3 src/train.py data/features model.json
    deps:
      - data/features
      - src/train.py
    params:
      - train.alpha
    outs:
      - model.json
  evaluate:
    cmd: python3 src/evaluate.py
    deps:
      - model.json
      - data/features
      - src/evaluate.py
    metrics:
      - eval/metrics.json:
          cache: false
  sweep:
    foreach: ${sweep.alphas}
    do:
      cmd: python3 src/fit.py data/features ${item} fits/fit_${item}.json
      deps:
        - data/features
        - src/fit.py
      outs:
        - fits/fit_${item}.json
  grid:
    matrix:
      kind: [mean, max]
      power: [1, 2]
    cmd: python3 ../src/grid.py ${item.kind} ${item.power}
    wdir: grid
    deps:
      - ../src/grid.py
    outs:
      - out_${item.kind}_${item.power}.txt
"""

PARAMS_YAML = """\
prepare:
  seed: 20170428
  split: 0.25
featurize:
  scale: 3
train:
  alpha: 0.5
sweep:
  alphas: [1, 2, 4]
"""

SOURCES = {
    "src/prepare.py": """
        import csv, os, random, sys
        import yaml
        p = yaml.safe_load(open("params.yaml"))["prepare"]
        rows = list(csv.reader(open(sys.argv[1])))
        random.Random(p["seed"]).shuffle(rows)
        cut = int(len(rows) * p["split"])
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, part in (("test.csv", rows[:cut]), ("train.csv", rows[cut:])):
            with open(os.path.join(sys.argv[2], name), "w", newline="") as f:
                csv.writer(f).writerows(part)
    """,
    "src/featurize.py": """
        import csv, json, os, sys
        src, dst, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
        os.makedirs(dst, exist_ok=True)
        for name in ("train", "test"):
            xs = [float(r[0]) * scale for r in csv.reader(open(os.path.join(src, name + ".csv")))]
            json.dump(xs, open(os.path.join(dst, name + ".json"), "w"))
    """,
    "src/train.py": """
        import json, os, sys
        import yaml
        alpha = yaml.safe_load(open("params.yaml"))["train"]["alpha"]
        xs = json.load(open(os.path.join(sys.argv[1], "train.json")))
        json.dump({"mean": round(sum(xs) / len(xs) * alpha, 6)}, open(sys.argv[2], "w"))
    """,
    "src/evaluate.py": """
        import json, os
        m = json.load(open("model.json"))["mean"]
        xs = json.load(open("data/features/test.json"))
        os.makedirs("eval", exist_ok=True)
        json.dump({"mae": round(sum(abs(x - m) for x in xs) / len(xs), 6), "n": len(xs)}, open("eval/metrics.json", "w"))
    """,
    "src/fit.py": """
        import json, sys
        xs = json.load(open(sys.argv[1] + "/train.json"))
        a = float(sys.argv[2])
        json.dump({"alpha": a, "fit": round(sum(xs) * a, 6)}, open(sys.argv[3], "w"))
    """,
    "src/grid.py": """
        import sys
        kind, power = sys.argv[1], int(sys.argv[2])
        xs = [1.0, 2.0, 3.0]
        v = (sum(xs) / len(xs)) if kind == "mean" else max(xs)
        open(f"out_{kind}_{power}.txt", "w").write(f"{v ** power}\\n")
    """,
}


def write_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "grid").mkdir(exist_ok=True)
    (root / "fits").mkdir(exist_ok=True)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "data" / "data.csv").write_text("".join(f"{(i * 37) % 101}\n" for i in range(40)))
    for rel, text in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root / "dvc.yaml"


# what each pipeline writes, relative to the project (compared between dvc repro and pipespec run)
OUTPUT_FILES = ["data/prepared/train.csv", "data/prepared/test.csv", "data/features/train.json",
                "data/features/test.json", "model.json", "eval/metrics.json", "fits/fit_1.json",
                "fits/fit_2.json", "fits/fit_4.json", "grid/out_mean_1.txt", "grid/out_mean_2.txt",
                "grid/out_max_1.txt", "grid/out_max_2.txt"]
