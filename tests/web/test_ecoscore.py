"""The Eco Score (docs/eco-score.md): one formula, efficiency against the class baseline, for `ecoai report` and the web."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from oracle.carbon.ecoscore import efficiency_eco_score, epochs_eco_score


def test_the_documented_values() -> None:
    assert efficiency_eco_score(0, 1000) == 100.0
    assert efficiency_eco_score(1000, 1000) == 0.0 and efficiency_eco_score(5000, 1000) == 0.0  # never negative
    assert efficiency_eco_score(550, 1000) == 45.0
    # docs/eco-score.md's example: two epochs of 6,400 items at tiers 149,172 and 186,824 µJ/item, β = 3,872,334.
    assert epochs_eco_score([(149_172, 6400, 3_872_334), (186_824, 6400, 3_872_334)]) == 95.66
    assert epochs_eco_score([]) is None and epochs_eco_score([(100, 0, 1000)]) is None  # no work, no score
    with pytest.raises(ValueError):
        efficiency_eco_score(10, 0)


@given(st.integers(1, 2**32), st.integers(1, 2**32), st.integers(1, 2**40))
def test_one_epoch_is_the_work_weighted_formula_and_it_is_monotone(eta: int, beta: int, work: int) -> None:
    score = efficiency_eco_score(eta, beta)
    assert 0.0 <= score <= 100.0
    assert epochs_eco_score([(eta, work, beta)]) == score
    assert efficiency_eco_score(eta + 1, beta) <= score  # more energy per unit never scores higher
