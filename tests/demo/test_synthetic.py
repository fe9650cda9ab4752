"""The synthetic generator: deterministic, scarce, heavily censored, related cancers."""

import re

import numpy as np

from steph_cli.demo.synthetic import SyntheticConfig, generate
from tests.conftest import TINY, Cli


def _flat(cohorts):
    return [
        (c.name, c.times, c.events, [b for p in c.patients for b in c.slides[p]]) for c in cohorts
    ]


def test_same_seed_same_data() -> None:
    a, b = _flat(generate(TINY)), _flat(generate(TINY))
    for (na, ta, ea, ba), (nb, tb, eb, bb) in zip(a, b, strict=True):
        assert na == nb
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ea, eb)
        assert all(np.array_equal(x, y) for x, y in zip(ba, bb, strict=True))


def test_other_seed_other_data() -> None:
    from dataclasses import replace

    a, b = generate(TINY), generate(replace(TINY, seed=TINY.seed + 1))
    assert not np.array_equal(a[0].times, b[0].times)


def test_shapes_censoring_and_risk_signal() -> None:
    config = SyntheticConfig(patients=300, feature_dim=16, patches=(10, 30), seed=1)
    for c in generate(config):
        assert len(c.patients) == 300
        assert all(b.shape[1] == 16 and 10 <= len(b) <= 30 for p in c.patients for b in c.slides[p])
        assert 0.15 < c.events.mean() < 0.5  # mostly censored, as TCGA DSS
        # the true risk orders the observed outcomes (Harrell's C well above chance)
        from sksurv.metrics import concordance_index_censored

        cindex = concordance_index_censored(c.events.astype(bool), c.times, c.risks)[0]
        assert cindex > 0.65


def test_related_cancers_share_prognostic_phenotypes() -> None:
    """A risk model fitted on one cancer transfers to its family, not to the unrelated one."""
    from sksurv.metrics import concordance_index_censored

    config = SyntheticConfig(patients=400, feature_dim=16, patches=(30, 60), seed=2)
    cohorts = {c.name: c for c in generate(config)}

    def mean_features(c):
        return np.stack([np.concatenate(c.slides[p]).mean(0) for p in c.patients])

    x, risk = mean_features(cohorts["BLCA"]), cohorts["BLCA"].risks
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], risk, rcond=None)

    def transfer(name):
        c = cohorts[name]
        pred = np.c_[mean_features(c), np.ones(len(c.patients))] @ coef
        return concordance_index_censored(c.events.astype(bool), c.times, pred)[0]

    assert transfer("LUSC") > 0.6 and transfer("HNSC") > 0.6
    assert transfer("LUSC") > transfer("KIRC") + 0.05


def test_demo_data_only_builds_workspace(cli: Cli) -> None:
    args = ["demo", "--patients", "12", "--cancers", "2", "--feature-dim", "8", "--folds", "3"]
    cli(*args, "--data-only")
    status = cli.json("status")
    assert [c["summary"]["name"] for c in status["cohorts"]] == ["BLCA", "HNSC"]
    assert all(len(c["summary"]["folds"]) == 3 for c in status["cohorts"])
    assert not status["initialised"]
    # rerun is a no-op on an existing demo workspace
    cli(*args, "--data-only")


def test_demo_runs_the_whole_pipeline(cli: Cli) -> None:
    args = ["demo", "--patients", "12", "--cancers", "3", "--feature-dim", "8", "--folds", "2"]
    result = cli(*args, "--epochs", "1")
    assert "Harrell's C on the test folds" in result.stdout
    assert "paired comparison" in result.stdout
    for column in ("expert", "steph", "ada", "task-arithmetic", "mean"):
        assert column in result.stdout
    # the last table: each learned merge against its permuted-label control, with its CI
    last = result.stdout[result.stdout.rindex("transfer effect") :]
    assert "95% CI" in last
    assert "steph-control-permuted" in last and "ada-control-permuted" in last
    status = cli.json("status")
    for cohort in status["cohorts"]:
        fresh = {"fresh": [0, 1], "stale": {}, "missing": []}
        assert cohort["experts"] == cohort["vectors"] == fresh
        made = ("ada", "steph", "task-arithmetic", "ada-control-permuted", "steph-control-permuted")
        assert cohort["merged"] == {m: fresh for m in made}
    rerun = cli.json(*args, "--epochs", "1")
    assert all(r["skipped"] for r in rerun["experts"])
    assert all(r["skipped"] for rs in rerun["merged"].values() for r in rs)
    # other settings are refused, never answered with the workspace's old results
    more = cli("demo", "--patients", "30", "--cancers", "3", "--feature-dim", "8", code=2)
    assert "holds a demo built with other settings (patients 12 → 30; folds 2 → 3)" in more.stderr
    longer = cli(*args, "--epochs", "2", code=2)
    # the first refusal reported may be either fold's: the demo's tasks run side by side
    assert re.search(
        r"experts/BLCA/fold[01]\.safetensors was made from other inputs", longer.stderr
    )
    assert "training.epochs 1 → 2; --force remakes it" in longer.stderr
