"""Paired statistics of reports: intervals and the power calculation behind a study's size."""

import numpy as np
import pytest
from scipy.stats import ttest_1samp

from steph_cli.evaluation.summary import mean_ci, pairs_needed


def test_the_interval_is_scipys_one_sample_t_interval() -> None:
    diffs = np.random.default_rng(0).normal(0.01, 0.03, size=12)
    expected = ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert mean_ci(diffs) == pytest.approx((expected.low, expected.high))
    assert mean_ci(diffs[:1]) is None


def test_pairs_needed_by_hand() -> None:
    # (z_0.975 + z_0.8)² (sd / effect)² / (3 / π): (1.959964 + 0.841621)² · 4 / 0.954930 = 32.9
    assert pairs_needed(0.04) == 33
    assert pairs_needed(0.02) == 9  # 7.85 / 0.95493 = 8.2
    assert pairs_needed(0.04, effect=0.04) == 9
    assert pairs_needed(0.04, power=0.9) > pairs_needed(0.04)
