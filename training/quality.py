"""Compare model scores with a simulated world's true conversion probabilities.

The simulator writes ``truth/conversion_probability.csv`` (account_id, as_of,
probability): the exact probability that the account converts within the horizon. On
the same snapshots, the truth is the best score any model could reach, so a model's
ROC-AUC and precision are judged as a share of the truth's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training import metrics

TRUTH_FILE = Path("truth") / "conversion_probability.csv"


def read_truth(data_dir: str | Path) -> pd.DataFrame:
    """Read the simulator's truth as account_id, as_of (UTC midnight), truth."""
    path = Path(data_dir) / TRUTH_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; only a world written by 'pqa simulate' has a truth."
        )
    truth = pd.read_csv(path, usecols=["account_id", "as_of", "probability"])
    return pd.DataFrame(
        {
            "account_id": truth["account_id"].astype(str),
            "as_of": pd.to_datetime(truth["as_of"], utc=True),
            "truth": truth["probability"].astype(float),
        }
    )


def with_truth(snapshots: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Keep the snapshots that have a true probability, adding it as column ``truth``."""
    return snapshots.merge(truth, on=["account_id", "as_of"], how="inner", validate="one_to_one")


def precision_at_flag_count(
    y: np.ndarray, score: np.ndarray, flag: np.ndarray, as_of: np.ndarray
) -> float:
    """Precision of the top ``k_d`` scores per as-of date d, where ``k_d`` is the number of
    accounts the PQA flag selects on d; hits and selections are pooled over dates.

    ``y`` may also hold probabilities (the truth): the result is then the expected
    precision of that selection, free of the noise of which accounts happened to convert.
    """
    hits = 0.0
    selected = 0
    for day in pd.unique(as_of):
        inside = as_of == day
        k = int(flag[inside].sum())
        if k == 0:
            continue
        top = metrics.ranking(score[inside])[:k]
        hits += float(y[inside][top].sum())
        selected += k
    return hits / selected if selected else float("nan")


def quality_report(
    frame: pd.DataFrame, scores: dict[str, np.ndarray], label: str = "label"
) -> pd.DataFrame:
    """ROC-AUC, PR-AUC and precision at the PQA flag's count for each score and the truth.

    Parameters
    ----------
    frame : DataFrame
        Test snapshots with ``label``, ``pqa``, ``as_of`` and ``truth`` columns.
    scores : dict of str to ndarray
        Model name -> scores aligned with ``frame``.

    Returns
    -------
    DataFrame
        One row per score (models, ``pqa_flag``, ``truth``): roc_auc, pr_auc,
        precision_at_flag_k, expected_precision_at_flag_k (the mean true probability of
        the accounts selected), and each as a share of the truth's value.
    """
    y = frame[label].to_numpy().astype(int)
    flag = frame["pqa"].to_numpy().astype(bool)
    as_of = frame["as_of"].to_numpy()
    truth = frame["truth"].to_numpy(dtype=float)
    everything = {
        **scores,
        "pqa_flag": flag.astype(float),
        "truth": truth,
    }
    rows = []
    for name, score in everything.items():
        score = np.asarray(score, dtype=float)
        if name == "pqa_flag":
            precision = float(y[flag].mean()) if flag.any() else float("nan")
            expected = float(truth[flag].mean()) if flag.any() else float("nan")
        else:
            precision = precision_at_flag_count(y, score, flag, as_of)
            expected = precision_at_flag_count(truth, score, flag, as_of)
        rows.append(
            {
                "score": name,
                "roc_auc": metrics.roc_auc(y, score),
                "pr_auc": metrics.pr_auc(y, score),
                "precision_at_flag_k": precision,
                "expected_precision_at_flag_k": expected,
            }
        )
    report = pd.DataFrame(rows)
    best = report.set_index("score").loc["truth"]
    for column in ("roc_auc", "pr_auc", "precision_at_flag_k", "expected_precision_at_flag_k"):
        report[f"{column}_vs_truth"] = report[column] / best[column]
    return report
