"""Charts logged with every training run: lift, calibration, PR curve, importance, SHAP.

Each function returns a matplotlib ``Figure`` built without pyplot (no global state, no
display needed); ``mlflow.log_figure`` or ``Figure.savefig`` writes it as a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from training.metrics import decile_table


def lift_chart(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Conversion rate by score decile for each model, against the overall rate."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    labels = np.asarray(y, dtype=float)
    width = 0.8 / max(len(scores), 1)
    for i, (name, p) in enumerate(scores.items()):
        table = decile_table(labels, p)
        axes.bar(
            table["decile"] + (i - (len(scores) - 1) / 2) * width,
            table["rate"],
            width=width,
            label=name,
        )
    axes.axhline(labels.mean(), color="black", linestyle="--", linewidth=1, label="overall")
    axes.set_xticks(range(1, 11))
    axes.set_xlabel("score decile (1 = highest scores)")
    axes.set_ylabel("conversion rate")
    axes.set_title("Lift by score decile (out-of-time test)")
    axes.legend()
    figure.tight_layout()
    return figure


def calibration_curve(y: np.ndarray, scores: Mapping[str, np.ndarray], bins: int = 10) -> Figure:
    """Observed conversion rate against mean predicted probability per quantile bin."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    labels = np.asarray(y, dtype=float)
    top = 0.0
    for name, p in scores.items():
        frame = pd.DataFrame({"y": labels, "p": np.asarray(p, dtype=float)})
        frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
        points = frame.groupby("bin").mean()
        axes.plot(points["p"], points["y"], marker="o", label=name)
        top = max(top, points["p"].max(), points["y"].max())
    axes.plot([0, top], [0, top], color="black", linestyle="--", linewidth=1, label="perfect")
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed conversion rate")
    axes.set_title("Calibration (out-of-time test)")
    axes.legend()
    figure.tight_layout()
    return figure


def pr_curve(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Precision against recall for each model."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    labels = np.asarray(y, dtype=int)
    for name, p in scores.items():
        precision, recall, _ = precision_recall_curve(labels, p)
        axes.plot(recall, precision, label=name)
    axes.axhline(labels.mean(), color="black", linestyle="--", linewidth=1, label="base rate")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall (out-of-time test)")
    axes.legend()
    figure.tight_layout()
    return figure


def feature_importance(importance: pd.Series, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` most important features."""
    shown = importance.sort_values(ascending=False).head(top)[::-1]
    figure = Figure(figsize=(7, 0.3 * len(shown) + 1.2))
    axes = figure.add_subplot()
    axes.barh(shown.index, shown.to_numpy())
    axes.set_xlabel("importance")
    axes.set_title("Feature importance")
    figure.tight_layout()
    return figure


def shap_summary(contributions: pd.DataFrame, values: pd.DataFrame, top: int = 15) -> Figure:
    """Mean |contribution| per feature beside a beeswarm-like scatter of contributions.

    Parameters
    ----------
    contributions : DataFrame
        Output of ``PropensityModel.contributions`` (log-odds units; ``bias`` ignored).
    values : DataFrame
        The feature values of the same rows; numeric points are colored by the value's
        rank within its feature (low blue, high red), others grey.
    top : int
        Features shown, by mean |contribution|.
    """
    per_feature = contributions.drop(columns=["bias"], errors="ignore")
    strength = per_feature.abs().mean().sort_values(ascending=False).head(top)[::-1]
    figure = Figure(figsize=(12, 0.35 * len(strength) + 1.5))
    bars, swarm = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(strength))
    bars.barh(positions, strength.to_numpy())
    bars.set_yticks(positions, strength.index)
    bars.set_xlabel("mean |contribution| (log-odds)")
    rng = np.random.default_rng(0)
    for row, name in enumerate(strength.index):
        x = per_feature[name].to_numpy()
        column = values[name] if name in values else pd.Series(np.nan, index=values.index)
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            color = column.rank(pct=True).fillna(0.5).to_numpy()
        else:
            color = np.full(len(x), 0.5)
        jitter = rng.uniform(-0.3, 0.3, len(x))
        swarm.scatter(x, row + jitter, c=color, cmap="coolwarm", s=4, alpha=0.6, vmin=0, vmax=1)
    swarm.axvline(0, color="black", linewidth=0.8)
    swarm.set_xlabel("contribution to log-odds (color: feature value rank)")
    figure.suptitle("What drives the scores (SHAP values)")
    figure.tight_layout()
    return figure
