"""STEPH's variants (how λ is made, the merge's base, what it merges), on tiny tensors."""

import pytest
import torch

from steph_cli.errors import BadInputError
from steph_cli.evaluation.inference import load_model
from steph_cli.merging import methods
from steph_cli.models.abmil import ENCODER_KEYS
from steph_cli.models.layout import Layout
from steph_cli.models.merged import HEAD_KEYS, build_steph
from tests.conftest import Cli
from tests.helpers.pools import ARCH, tiny_pool


def _model(scope: str = "encoder", base: str = "init", **variant):
    pool = tiny_pool(3)
    return pool, build_steph(
        ARCH,
        scope,
        pool.init,
        pool.target.state,
        [m.state for m in pool.sources],
        pool.target.state if base == "target" else pool.init,
        2,
        "softplus",
        0,
        **variant,
    ).eval()


def _flat(state: dict, keys) -> torch.Tensor:
    return torch.cat([state[k].reshape(-1) for k in keys])


def test_default_is_the_pools_encoder_merge() -> None:
    pool, model = _model()
    assert torch.equal(model.base, pool.base)
    assert torch.equal(model.target_vector, pool.target_vector)
    assert torch.equal(model.source_vectors, pool.source_vectors)


def test_fixed_zero_lambda_merges_the_sources_alone() -> None:
    pool, model = _model(lambda_mode="fixed", lambda_value=0.0)
    bag = torch.randn(5, ARCH.in_dim)
    w, lam, top = model.mixing(bag)
    assert torch.equal(lam, torch.zeros(3))
    expected = pool.base + sum(w[i] * pool.source_vectors[i] for i in top.tolist())
    assert torch.allclose(model.encoder(w, lam, top), expected, atol=1e-6)


def test_one_learned_lambda_per_source_does_not_depend_on_the_bag() -> None:
    _, model = _model(lambda_mode="source")
    a, b = torch.randn(5, ARCH.in_dim), torch.randn(9, ARCH.in_dim)
    assert torch.equal(model.mixing(a)[1], model.mixing(b)[1])
    assert "ratios" in dict(model.named_parameters()) and not hasattr(model, "ratio_head")
    with torch.no_grad():
        model.ratios.copy_(torch.tensor([0.0, 1.0, 3.0]))
    assert torch.allclose(model.mixing(a)[1], torch.tensor([1.0, 0.5, 0.25]))


def test_base_target_starts_from_the_target_expert() -> None:
    pool, model = _model(base="target")
    zero = torch.zeros(3)
    top = torch.tensor([0, 1])
    assert torch.equal(model.encoder(zero, zero, top), _flat(pool.target.state, ENCODER_KEYS))


def test_scope_all_merges_the_head_too() -> None:
    pool, model = _model(scope="all")
    assert model.layout.keys == ENCODER_KEYS + HEAD_KEYS and model.merged_head
    assert not model.head.weight.requires_grad
    bag = torch.randn(5, ARCH.in_dim)
    w, lam, top = model.mixing(bag)
    merged = Layout.of(pool.init, list(model.layout.keys)).unflatten(model.encoder(w, lam, top))
    from torch.func import functional_call

    expected = functional_call(model.body, merged, (bag,))
    assert torch.allclose(model(bag), expected, atol=1e-6)


def test_scope_head_keeps_the_targets_encoder() -> None:
    pool, model = _model(scope="head", base="target")
    bag = torch.randn(5, ARCH.in_dim)
    assert model.layout.keys == HEAD_KEYS
    fixed = model.fixed_layout.unflatten(model.fixed_flat)
    assert all(torch.equal(fixed[k], pool.target.state[k]) for k in ENCODER_KEYS)
    assert model(bag).shape == (ARCH.n_bins,)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"lambda_value": 0.3}, "lambda_value = 0.3 applies to lambda_mode fixed, not hyper"),
        ({"scope": "head"}, "scope head with base init would leave the encoder at θ_init"),
        ({"scope": "all", "head_init": "fresh"}, "head_init fresh does not apply"),
        ({"lambda_mode": "random"}, "lambda_mode = 'random': use one of hyper, source, fixed"),
    ],
)
def test_variants_that_cannot_apply_are_refused(given: dict, says: str) -> None:
    with pytest.raises(BadInputError, match=says):
        methods.get("steph").params(given)


@pytest.mark.parametrize(
    "variant",
    [
        ["--lambda-mode", "fixed", "--lambda-value", "0"],
        ["--lambda-mode", "source", "--base", "target"],
        ["--scope", "all"],
    ],
    ids=["no-mixup", "per-source-lambda", "all-parameters"],
)
def test_variant_files_run_alone(trained: Cli, variant: list[str]) -> None:
    rows = trained.json(
        "merge", "--target", "AAA", "--fold", "0", "--epochs", "1", "--accumulate", "4", *variant
    )
    model, _ = load_model(rows[0]["path"])
    report = trained.json("evaluate", "--target", "AAA", "--model", "steph", "--fold", "0")
    value = report["folds"][0]["metrics"]["harrell_c"]["value"]
    assert value == pytest.approx(rows[0]["test_harrell_cindex"])  # the reloaded file scores alike
    assert isinstance(model, torch.nn.Module)
