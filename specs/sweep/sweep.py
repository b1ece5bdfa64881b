"""Step functions of the hyper-parameter sweep (specs/sweep/pipeline.yaml).

``call:`` steps: keyword arguments are the step's ``with:`` keys (artifact inputs as
``str`` paths) plus one path per artifact output; value outputs are returned as a dict.
Deterministic for the same parameters.
"""

from __future__ import annotations

import json

import pandas as pd

TARGET = "y"


def make_data(samples: int, features: int, seed: int, data: str) -> dict:
    """A binary classification problem, wide enough that regularisation matters."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=int(samples),
        n_features=int(features),
        n_informative=max(2, int(features) // 10),
        n_redundant=max(0, int(features) // 10),
        flip_y=0.05,
        class_sep=1.2,
        random_state=int(seed),
    )
    df = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(X.shape[1])]).round(6)
    df[TARGET] = y
    df.to_csv(data, index=False)
    print(f"make_data: {len(df)} rows x {X.shape[1]} features, positive rate {y.mean():.3f} -> {data}")
    return {"rows": int(len(df))}


def fit(data: str, strength: float, folds: int, seed: int, metrics: str) -> dict:
    """Cross-validated ROC AUC of L2 logistic regression with regularisation ``strength``.

    ``strength`` is alpha, the penalty per training sample as in SGDClassifier
    (objective: mean log-loss + alpha/2 * ||w||^2, i.e. C = 1 / (alpha * n_train));
    larger alpha means a simpler model. Returns ``alpha`` (the strength, so the fan-in
    lists pair up) and ``score`` (mean AUC over the folds); writes the fold statistics
    to ``metrics``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alpha = float(strength)
    if alpha <= 0:
        raise ValueError(f"strength must be > 0, got {alpha}")
    df = pd.read_csv(data)
    X, y = df.drop(columns=[TARGET]).to_numpy(), df[TARGET].to_numpy()
    cv = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=int(seed))
    n_train = len(y) * (int(folds) - 1) / int(folds)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / (alpha * n_train), max_iter=5000))
    scores = cross_val_score(model, X, y, cv=cv, scoring="roc_auc", n_jobs=1)
    result = {
        "alpha": alpha,
        "score": round(float(scores.mean()), 6),
        "score_std": round(float(scores.std()), 6),
        "score_min": round(float(scores.min()), 6),
        "score_max": round(float(scores.max()), 6),
        "folds": int(folds),
    }
    with open(metrics, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
        fh.write("\n")
    print(f"fit: alpha={alpha:g} auc={result['score']:.4f} ± {result['score_std']:.4f}")
    return {"alpha": alpha, "score": result["score"]}


def select(scores: list[float], alphas: list[float], reports: list[str], rows: int, summary: str) -> dict:
    """Pick the alpha with the best score (ties: the larger, i.e. simpler, alpha).

    ``scores`` and ``alphas`` are the fan-in lists of the ``fit`` step, in foreach
    order. Writes a markdown table of the sweep to ``summary``.
    """
    if len(scores) != len(alphas) or not scores:
        raise ValueError(f"need equally long, non-empty lists; got {len(scores)} scores, {len(alphas)} alphas")
    if isinstance(reports, str):
        reports = [reports]
    spread = {}
    for path in reports:
        with open(path, encoding="utf-8") as fh:
            rep = json.load(fh)
        spread[float(rep["alpha"])] = float(rep["score_std"])
    pairs = [(float(a), float(s)) for a, s in zip(alphas, scores)]
    best_alpha, best_score = max(pairs, key=lambda p: (p[1], p[0]))
    lines = [
        "# Regularisation sweep",
        "",
        "Mean cross-validated ROC AUC of L2 logistic regression per alpha (penalty per sample, C = 1/(alpha n)).",
        "",
        f"{int(rows)} rows of synthetic data.",
        "",
        "| alpha | AUC | std over folds | |",
        "|---:|---:|---:|---|",
        *(f"| {a:g} | {s:.4f} | {spread.get(a, float('nan')):.4f} | {'best' if (a, s) == (best_alpha, best_score) else ''} |"
          for a, s in sorted(pairs)),
        "",
        f"Best: alpha = {best_alpha:g} (AUC {best_score:.4f}); "
        f"spread across the sweep {max(s for _, s in pairs) - min(s for _, s in pairs):.4f}.",
        "",
    ]
    with open(summary, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"select: best alpha {best_alpha:g} (auc {best_score:.4f})")
    return {"best_alpha": best_alpha, "best_score": best_score}
