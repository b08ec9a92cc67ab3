"""Green optimizer: measured profiles, Pareto frontier, weighted recommendation, online bandit, profiler.

The profiler (oracle.optimize.profiler) needs PyTorch (extra `profile`); nothing else here imports it.
"""

from oracle.optimize.pareto import (
    Constraints,
    Prices,
    Recommendation,
    Weights,
    frontier,
    recommend,
    recommended_configuration,
)
from oracle.optimize.profile import COLUMNS, ProfileError, ProfileRow, load_profile, parse_profile

__all__ = [
    "COLUMNS",
    "Constraints",
    "Prices",
    "ProfileError",
    "ProfileRow",
    "Recommendation",
    "Weights",
    "frontier",
    "load_profile",
    "parse_profile",
    "recommend",
    "recommended_configuration",
]
