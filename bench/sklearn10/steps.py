"""Ten small scikit-learn steps (bench case 8): real work on a few thousand rows, each step
importing pandas and scikit-learn as a user's module does. The same functions run under
pipespec (``call:``), dvc and snakemake (through ``call.py``)."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


def make_data(rows: int, data: str) -> None:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=20, n_informative=8, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["y"] = y
    df.to_csv(data, index=False)


def split(data: str, train: str, test: str) -> None:
    df = pd.read_csv(data)
    tr, te = train_test_split(df, test_size=0.25, random_state=0, stratify=df["y"])
    tr.to_csv(train, index=False)
    te.to_csv(test, index=False)


def scale(train: str, test: str, train_scaled: str, test_scaled: str) -> None:
    tr, te = pd.read_csv(train), pd.read_csv(test)
    cols = [c for c in tr.columns if c != "y"]
    sc = StandardScaler().fit(tr[cols])
    tr[cols], te[cols] = sc.transform(tr[cols]), sc.transform(te[cols])
    tr.to_csv(train_scaled, index=False)
    te.to_csv(test_scaled, index=False)


def pca(train: str, test: str, train_pca: str, test_pca: str) -> None:
    tr, te = pd.read_csv(train), pd.read_csv(test)
    cols = [c for c in tr.columns if c != "y"]
    p = PCA(n_components=8, random_state=0).fit(tr[cols])
    for df, out in ((tr, train_pca), (te, test_pca)):
        z = pd.DataFrame(p.transform(df[cols]), columns=[f"p{i}" for i in range(8)])
        z["y"] = df["y"].to_numpy()
        z.to_csv(out, index=False)


def _fit(est, train: str, model: str) -> None:
    tr = pd.read_csv(train)
    est.fit(tr.drop(columns="y"), tr["y"])
    joblib.dump(est, model)


def fit_logreg(train: str, model: str) -> None:
    _fit(LogisticRegression(max_iter=500), train, model)


def fit_tree(train: str, model: str) -> None:
    _fit(DecisionTreeClassifier(max_depth=8, random_state=0), train, model)


def fit_forest(train: str, n_estimators: int, model: str) -> None:
    _fit(RandomForestClassifier(n_estimators=n_estimators, random_state=0, n_jobs=1), train, model)


def fit_knn(train: str, model: str) -> None:
    _fit(KNeighborsClassifier(n_neighbors=15), train, model)


def evaluate(logreg: str, tree: str, forest: str, knn: str, test: str, test_pca: str, metrics: str) -> None:
    out = {}
    for name, path, data in (("logreg", logreg, test), ("tree", tree, test), ("forest", forest, test),
                             ("knn", knn, test_pca)):
        te = pd.read_csv(data)
        X, y = te.drop(columns="y"), te["y"]
        est = joblib.load(path)
        out[f"auc_{name}"] = round(float(roc_auc_score(y, est.predict_proba(X)[:, 1])), 6)
        out[f"acc_{name}"] = round(float(accuracy_score(y, est.predict(X))), 6)
    with open(metrics, "w") as f:
        json.dump(out, f, sort_keys=True)


def report(metrics: str, summary: str) -> dict:
    m = json.load(open(metrics))
    best = max((k for k in m if k.startswith("auc_")), key=m.get)
    with open(summary, "w") as f:
        f.write(f"best {best[4:]}: auc {m[best]:.4f}; mean auc {np.mean([m[k] for k in m if k.startswith('auc_')]):.4f}\n")
    return {"best": best[4:]}
