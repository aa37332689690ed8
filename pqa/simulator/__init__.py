"""A synthetic product world: Segment events, a Salesforce export and the true
conversion probability of every account, for demos, tests and benchmarks.

``simulate(out_dir, accounts=..., months=..., seed=...)`` writes ``events/`` (gzipped
Segment JSON Lines), ``crm/`` (accounts and opportunities CSV), ``truth/`` (exact
conversion probabilities and each company's latent parameters) and, last,
``simulation.json`` with the counts.
"""

from pqa.simulator.run import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
