"""The rules baseline: what the PQA definition alone says about conversion.

Its score is the rules level of a snapshot (0 for a non-PQA, 1 + the number of fired
``any_of`` rules for a PQA, so that PQAs with more signals rank higher), turned into a
probability by the conversion rate of that level on the validation snapshots.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class RulesBaseline:
    """Probability of each rules level, learned as a smoothed validation rate.

    The rate of a level is ``(conversions + overall rate) / (snapshots + 1)``: one
    pseudo-snapshot at the overall rate keeps a level seen once from claiming 0 or 1, and
    gives a level never seen in validation the overall rate.
    """

    def fit(self, levels: Any, y: Any) -> RulesBaseline:
        """Learn the conversion rate of each level from validation snapshots."""
        frame = pd.DataFrame({"level": np.asarray(levels, dtype=int), "y": np.asarray(y)})
        if frame.empty:
            raise ValueError("RulesBaseline.fit needs at least one validation snapshot.")
        self.overall_rate_ = float(frame["y"].mean())
        counts = frame.groupby("level")["y"].agg(["sum", "size"])
        rates = (counts["sum"] + self.overall_rate_) / (counts["size"] + 1)
        self.rates_ = {int(level): float(rate) for level, rate in rates.items()}
        return self

    def predict_proba(self, levels: Any) -> np.ndarray:
        """Return the probability of each snapshot's level, shape (n,)."""
        values = np.asarray(levels, dtype=int)
        return np.array([self.rates_.get(int(v), self.overall_rate_) for v in values])
