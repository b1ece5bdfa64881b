"""Step functions of the churn pipeline (specs/churn/pipeline.yaml).

Every function is a ``call:`` step. The runner calls it with keyword arguments:
the keys of the step's ``with:`` (artifact inputs arrive as ``str`` paths) plus one
keyword per artifact output (the ``str`` path the function must write). A function
returns ``None`` or a dict of the step's value outputs.

Everything is deterministic for the same parameters: fixed seeds, ``n_jobs=1``.
Only numpy, pandas, scipy and scikit-learn are used; nothing is downloaded.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

TARGET = "churn"
ID_COLUMN = "customer_id"
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "senior_citizen"]
CATEGORICAL = ["contract", "internet_service", "payment_method"]
# Features the drift monitor compares (continuous or count-valued ones).
MONITORED = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
ALGORITHMS = ("logreg", "forest")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- data


def generate_customers(rows: int, seed: int, charge_shift: float = 0.0) -> pd.DataFrame:
    """A synthetic telecom customer table with a churn label.

    The label is drawn from a logistic model of the features plus latent noise, so a
    model can learn it well but not perfectly. About 1-2 % of a few columns are left
    missing, as in real exports. ``charge_shift`` raises monthly charges by that
    fraction (0.3 = +30 %), which is how the drift monitor simulates a price change.
    """
    if rows < 100:
        raise ValueError(f"rows must be at least 100, got {rows}")
    rng = np.random.default_rng(seed)
    n = int(rows)

    contract = rng.choice(["month_to_month", "one_year", "two_year"], size=n, p=[0.55, 0.25, 0.20])
    internet = rng.choice(["dsl", "fiber_optic", "none"], size=n, p=[0.35, 0.45, 0.20])
    payment = rng.choice(
        ["electronic_check", "mailed_check", "bank_transfer", "credit_card"],
        size=n,
        p=[0.35, 0.20, 0.22, 0.23],
    )
    senior = (rng.random(n) < 0.16).astype(int)

    # Longer contracts go with longer tenure.
    shape = np.select([contract == "month_to_month", contract == "one_year"], [1.4, 3.0], 5.0)
    tenure = np.clip(np.round(rng.gamma(shape, 9.0)), 1, 72).astype(int)

    base = np.select([internet == "fiber_optic", internet == "dsl"], [85.0, 55.0], 22.0)
    spread = np.select([internet == "fiber_optic", internet == "dsl"], [12.0, 10.0], 4.0)
    monthly = np.clip(base + rng.normal(0.0, 1.0, n) * spread, 18.0, 125.0)
    monthly = np.round(monthly * (1.0 + float(charge_shift)), 2)
    total = np.round(monthly * tenure * rng.uniform(0.93, 1.03, n), 2)

    support = rng.poisson(0.9 + 0.8 * (internet == "fiber_optic") + 0.5 * senior)

    logit = (
        -2.1
        + 1.3 * (contract == "month_to_month")
        - 0.9 * (contract == "two_year")
        - 0.040 * tenure
        + 0.018 * (monthly - 65.0)
        + 0.40 * support
        + 0.55 * (internet == "fiber_optic")
        + 0.50 * (payment == "electronic_check")
        + 0.35 * senior
        + rng.normal(0.0, 0.9, n)  # latent, unobserved causes
    )
    churn = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    df = pd.DataFrame(
        {
            ID_COLUMN: [f"C{seed:04d}-{i:06d}" for i in range(n)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support.astype(float),
            "senior_citizen": senior,
            "contract": contract,
            "internet_service": internet,
            "payment_method": payment,
            TARGET: churn,
        }
    )
    # Missing values, as in real exports: blank totals for some new accounts, unknown
    # support counts and payment methods.
    for column, rate in (("total_charges", 0.015), ("support_calls", 0.01), ("payment_method", 0.01)):
        df.loc[rng.random(n) < rate, column] = np.nan
    return df


def _impute(df: pd.DataFrame, medians: dict[str, float]) -> pd.DataFrame:
    df = df.copy()
    for column in NUMERIC:
        df[column] = df[column].astype(float).fillna(medians[column])
    for column in CATEGORICAL:
        df[column] = df[column].fillna("unknown").astype(str)
    return df


def _encode(df: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    df = df.copy()
    for column in CATEGORICAL:
        df[column] = pd.Categorical(df[column], categories=categories[column])
    return pd.get_dummies(df, columns=CATEGORICAL, dtype=int)


def _split_xy(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    return df.drop(columns=[TARGET]), df[TARGET].to_numpy()


def _write_json(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")


# --------------------------------------------------------------------------- steps


def ingest(rows: int, seed: int, raw: str) -> dict:
    """Generate the raw customer table and write it as CSV to ``raw``."""
    df = generate_customers(rows, seed)
    df.to_csv(raw, index=False)
    rate = float(df[TARGET].mean())
    print(f"ingest: {len(df)} customers, churn rate {rate:.3f}, "
          f"{int(df.isna().sum().sum())} missing cells -> {raw}")
    return {"churn_rate": round(rate, 6)}


def prepare(raw: str, test_size: float, seed: int, train: str, test: str) -> dict:
    """Stratified split, impute with train statistics, one-hot encode; CSV out."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    df = pd.read_csv(raw).drop(columns=[ID_COLUMN])
    df = df[df[TARGET].notna()]
    df[TARGET] = df[TARGET].astype(int)
    tr, te = train_test_split(df, test_size=float(test_size), random_state=int(seed), stratify=df[TARGET])

    medians = {c: float(tr[c].median()) for c in NUMERIC}  # fitted on train only: no leakage
    tr, te = _impute(tr, medians), _impute(te, medians)
    categories = {c: sorted(tr[c].unique()) for c in CATEGORICAL}
    tr, te = _encode(tr, categories), _encode(te, categories)

    tr.to_csv(train, index=False)
    te.to_csv(test, index=False)
    n_features = tr.shape[1] - 1
    print(f"prepare: train {len(tr)} rows, test {len(te)} rows, {n_features} features")
    return {"n_features": int(n_features)}


def train(algo: str, train: str, n_estimators: int, seed: int, model: str) -> dict:
    """Fit one model (``logreg`` or ``forest``) and save it with joblib to ``model``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if algo == "logreg":
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    elif algo == "forest":
        estimator = RandomForestClassifier(
            n_estimators=int(n_estimators),
            min_samples_leaf=5,
            random_state=int(seed),
            n_jobs=1,
        )
    else:
        raise ValueError(f"unknown model {algo!r}; expected one of {', '.join(ALGORITHMS)}")

    X, y = _split_xy(pd.read_csv(train))
    estimator.fit(X, y)
    bundle = {"name": algo, "features": list(X.columns), "estimator": estimator}
    joblib.dump(bundle, model)
    print(f"train: {algo} fitted on {len(X)} rows x {X.shape[1]} features -> {model}")
    return {"name": algo}


def evaluate(models: list[str], names: list[str], test: str, metrics: str, model: str) -> dict:
    """Score every trained model on the test set; keep the best by ROC AUC.

    Writes ``metrics`` (numbers only: auc/f1/accuracy of the best model, then
    ``auc_<name>``, ``f1_<name>``, ``accuracy_<name>`` per model) and copies the best
    model file to ``model``. Returns ``best``, the best model's name.
    """
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    if isinstance(models, str):
        models = [models]
    if isinstance(names, str):
        names = [names]
    if not models:
        raise ValueError("evaluate needs at least one model")
    if len(names) != len(models):
        raise ValueError(f"fan-in mismatch: {len(models)} model files but {len(names)} names")
    X_test, y = _split_xy(pd.read_csv(test))

    scores: dict[str, dict[str, float]] = {}
    paths: dict[str, str] = {}
    for path in models:
        bundle = joblib.load(path)
        name = bundle["name"]
        expected = names[models.index(path)]
        if name != expected:
            raise ValueError(f"model file {path} holds {name!r}, but train reported {expected!r}")
        if not _NAME.match(name):
            raise ValueError(f"model name {name!r} is not usable as a metrics field")
        if name in scores:
            raise ValueError(f"model {name!r} appears twice in the fan-in; model names must be unique")
        X = X_test.reindex(columns=bundle["features"], fill_value=0)
        proba = bundle["estimator"].predict_proba(X)[:, 1]
        pred = (proba >= 0.5).astype(int)
        scores[name] = {
            "auc": float(roc_auc_score(y, proba)),
            "f1": float(f1_score(y, pred)),
            "accuracy": float(accuracy_score(y, pred)),
        }
        paths[name] = path
        print(f"evaluate: {name:8s} auc={scores[name]['auc']:.4f} f1={scores[name]['f1']:.4f} "
              f"accuracy={scores[name]['accuracy']:.4f}")

    # Highest AUC wins; ties go to the name listed first.
    best = max(scores, key=lambda k: (scores[k]["auc"], -list(scores).index(k)))
    result: dict[str, float] = {k: round(v, 6) for k, v in scores[best].items()}
    for name, s in scores.items():
        for key, value in s.items():
            result[f"{key}_{name}"] = round(value, 6)
    result["n_models"] = len(scores)
    result["test_rows"] = int(len(y))
    result["test_churn_rate"] = round(float(np.mean(y)), 6)
    _write_json(metrics, result)
    shutil.copyfile(paths[best], model)
    print(f"evaluate: best is {best} (auc {result['auc']:.4f})")
    return {"best": best}


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_card(meta: dict) -> str:
    m, d, p = meta["metrics"], meta["data"], meta["params"]
    per_model = sorted(k[4:] for k in m if k.startswith("auc_"))
    lines = [
        f"# churn model {meta['version']}",
        "",
        f"- model: `{meta['model']}`",
        f"- registered: {meta['registered_at']}",
        f"- pipeline run: `{meta['run_id']}`",
        f"- model file sha256: `{meta['sha256']}`",
        "",
        "## Intended use",
        "",
        "Ranks customers by their probability of cancelling, for retention campaigns.",
        "Trained on synthetic data generated by the pipeline: a demonstration, not a production model.",
        "",
        "## Test metrics (selected model)",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {m[k]:.4f} |" for k in ("auc", "f1", "accuracy")),
        "",
        "## All candidates",
        "",
        "| model | auc | f1 | accuracy |",
        "|---|---|---|---|",
        *(f"| {n} | {m['auc_' + n]:.4f} | {m['f1_' + n]:.4f} | {m['accuracy_' + n]:.4f} |" for n in per_model),
        "",
        "## Training data",
        "",
        f"- rows: {d['rows']}",
        f"- features: {d['features']}",
        f"- churn rate: {d['churn_rate']:.4f} (raw table before the split: {d['raw_churn_rate']:.4f})",
        *(f"- {c}: mean {s['mean']:.2f}, std {s['std']:.2f}, min {s['min']:.2f}, max {s['max']:.2f}"
          for c, s in d["numeric"].items()),
        "",
        "## Parameters",
        "",
        *(f"- {k}: {v}" for k, v in sorted(p.items())),
        "",
    ]
    return "\n".join(lines)


def deploy(
    model: str,
    metrics: str,
    best: str,
    train: str,
    churn_rate: float,
    n_features: int,
    registry: str,
    rows: int,
    seed: int,
    test_size: float,
    n_estimators: int,
    min_auc: float,
    package: str,
) -> dict:
    """Release the selected model: ``package`` (the model file the spec's ``tracking:``
    registers in MLflow as the next version of ``churn``, alias ``champion``) and a copy in a
    folder registry.

    Layout: ``<registry>/churn/v<N>/{model.joblib, model_card.md, metadata.json}`` and
    ``<registry>/churn/LATEST``. Registering is idempotent: a model whose file hash is
    already registered returns that version instead of creating a new one, so a retried
    or repeated deploy does not pile up copies.
    """
    root = Path(registry).resolve() / "churn"
    root.mkdir(parents=True, exist_ok=True)
    digest = _sha256(model)
    shutil.copyfile(model, package)

    def versions() -> list[int]:
        return sorted(int(p.name[1:]) for p in root.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name))

    for n in versions():
        meta_file = root / f"v{n}" / "metadata.json"
        if meta_file.is_file() and json.loads(meta_file.read_text())["sha256"] == digest:
            print(f"deploy: model already registered as v{n} (sha256 {digest[:12]}); not adding a copy")
            return {"version": f"v{n}", "uri": (root / f"v{n}").as_uri()}

    with open(metrics, encoding="utf-8") as fh:
        scores = json.load(fh)
    df = pd.read_csv(train)
    meta = {
        "name": "churn",
        "model": best,
        "sha256": digest,
        # the run that produced this version; not an argument, so it does not key the cache
        "run_id": os.environ.get("PIPESPEC_RUN_ID", ""),
        "registered_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "metrics": scores,
        "gate": {"metric": "auc", "min": float(min_auc)},
        "params": {
            "rows": int(rows),
            "seed": int(seed),
            "test_size": float(test_size),
            "n_estimators": int(n_estimators),
            "min_auc": float(min_auc),
        },
        "data": {
            "rows": int(len(df)),
            "features": int(n_features),
            "churn_rate": float(df[TARGET].mean()),
            "raw_churn_rate": float(churn_rate),
            "numeric": {
                c: {k: float(getattr(df[c], k)()) for k in ("mean", "std", "min", "max")} for c in MONITORED
            },
        },
        "runtime": {"python": platform.python_version(), "sklearn": _sklearn_version()},
    }

    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=root))
    try:
        shutil.copyfile(model, stage / "model.joblib")
        while True:
            n = (versions() or [0])[-1] + 1
            meta["version"] = f"v{n}"
            _write_json(str(stage / "metadata.json"), meta)
            (stage / "model_card.md").write_text(_model_card(meta), encoding="utf-8")
            try:
                os.rename(stage, root / f"v{n}")  # atomic; fails if another run took v<n>
                break
            except OSError:
                if not (root / f"v{n}").exists():
                    raise
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    (root / "LATEST").write_text(f"v{n}\n", encoding="utf-8")
    uri = (root / f"v{n}").as_uri()
    print(f"deploy: registered {best} as v{n} -> {uri}")
    return {"version": f"v{n}", "uri": uri}


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def _psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index over reference-quantile bins (eps-smoothed)."""
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    eps = 1e-6
    ref_p = np.maximum(ref_counts / ref_counts.sum(), eps)
    cur_p = np.maximum(cur_counts / cur_counts.sum(), eps)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


def monitor(
    reference: str,
    rows: int,
    seed: int,
    drift_shift: float,
    psi_threshold: float,
    report: str,
) -> dict:
    """Drift check: the training data against a fresh batch of "current" customers.

    The current batch comes from the same generator with another seed and monthly
    charges raised by ``drift_shift``. Per monitored feature it computes PSI and the
    two-sample Kolmogorov-Smirnov statistic; a feature drifts when PSI exceeds
    ``psi_threshold`` (0.2 is the usual "significant shift" line).
    """
    from scipy.stats import ks_2samp

    ref = pd.read_csv(reference)
    cur = generate_customers(rows, seed, charge_shift=drift_shift)
    result: dict[str, float] = {}
    drifted = []
    for column in MONITORED:
        r = ref[column].astype(float).to_numpy()
        c = cur[column].astype(float).fillna(float(np.median(r))).to_numpy()  # impute as prepare does
        psi = _psi(r, c)
        result[f"psi_{column}"] = round(psi, 6)
        result[f"ks_{column}"] = round(float(ks_2samp(r, c).statistic), 6)
        if psi > float(psi_threshold):
            drifted.append(column)
    result["max_psi"] = max(result[f"psi_{c}"] for c in MONITORED)
    result["drifted_features"] = len(drifted)
    result["psi_threshold"] = float(psi_threshold)
    result["current_rows"] = int(len(cur))
    _write_json(report, result)
    print(f"monitor: max psi {result['max_psi']:.4f}; drifted: {', '.join(drifted) or 'none'}")
    return {"drifted": bool(drifted)}


def notify(status: str, run_id: str, pipeline: str = "churn") -> None:
    """One-line run summary. Reads the Slack webhook from ``SLACK_URL`` (may be empty).

    It never prints the URL. Posting is left out of this example on purpose: with a
    webhook configured it says it would notify, so running the example is offline.
    """
    print(f"notify: pipeline {pipeline} run {run_id} finished with status {status}")
    if os.environ.get("SLACK_URL", "").strip():
        print("notify: Slack webhook configured; would post the summary there")
    else:
        print("notify: no Slack webhook configured (set SLACK_WEBHOOK); skipping")
