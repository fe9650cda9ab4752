"""Merge algebra on tiny hand-built tensors, with expected values worked out in the test."""

import pytest
import torch

from steph_cli.merging.algebra import iso_cts, isotropic, rank_split, ties_merge, trim
from steph_cli.merging.methods import get
from steph_cli.models.abmil import encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.models.merged import ScalarMerge
from tests.helpers.pools import ARCH, random_state, tiny_pool


def test_layout_round_trip_and_views() -> None:
    state = random_state(5)
    layout = Layout.of(state, encoder_keys(state))
    flat = layout.flatten(state)
    # feat_proj 2×3 + 2, attention a and b 2×2 + 2 each, c 1×2 + 1
    assert flat.shape == (layout.size,) == (6 + 2 + 4 + 2 + 4 + 2 + 2 + 1,)
    back = layout.unflatten(flat)
    assert all(torch.equal(back[k], state[k]) for k in layout.keys)
    assert "head.weight" not in back  # the head is not part of a task vector
    stacked = layout.stack([state, random_state(6)])
    assert stacked.shape == (2, layout.size)
    assert torch.equal(
        layout.unflatten(stacked)["feat_proj.weight"][1], random_state(6)["feat_proj.weight"]
    )
    grad_probe = flat.clone().requires_grad_(True)
    layout.unflatten(grad_probe)["attention_net.c.bias"].sum().backward()
    assert grad_probe.grad.sum().item() == 1.0  # views: gradient lands on one entry


def test_task_arithmetic_by_hand() -> None:
    pool = tiny_pool()
    merged = get("task-arithmetic").encoder(pool, get("task-arithmetic").params({"gamma": 0.3}))
    key = "feat_proj.weight"
    init, t = pool.init[key], pool.target.state[key]
    s0, s1 = pool.sources[0].state[key], pool.sources[1].state[key]
    expected = t + 0.3 * ((s0 - init) + (s1 - init))
    torch.testing.assert_close(pool.layout.unflatten(merged)[key], expected)


def test_ties_worked_example() -> None:
    # Two task vectors of a 2×3 matrix, flattened; keep the top half (3 of 6) of each.
    v1 = torch.tensor([[4.0, -1.0, 0.5], [-3.0, 0.2, 2.0]]).reshape(-1)
    v2 = torch.tensor([[-2.0, 5.0, 0.1], [-1.0, 0.3, 6.0]]).reshape(-1)
    assert trim(v1, 0.5).tolist() == [4.0, 0.0, 0.0, -3.0, 0.0, 2.0]
    assert trim(v2, 0.5).tolist() == [-2.0, 5.0, 0.0, 0.0, 0.0, 6.0]
    # elected signs of the trimmed sum [2, 5, 0, -3, 0, 8]: +, +, none, -, none, +
    # entry 0: only v1's 4 agrees; entry 5: both agree, mean (2 + 6) / 2
    merged = ties_merge(torch.stack([v1, v2]), 0.5)
    assert merged.reshape(2, 3).tolist() == [[4.0, 5.0, 0.0], [-3.0, 0.0, 4.0]]


def test_ties_pairs_target_with_each_source() -> None:
    pool = tiny_pool(3)
    rows = get("ties").rows(pool, get("ties").params({"density": 0.2}))
    assert rows.shape == (3, pool.layout.size)
    for i in range(3):
        pair = torch.stack([pool.target_vector, pool.source_vectors[i]])
        torch.testing.assert_close(rows[i], ties_merge(pair, 0.2))


def test_isotropic_flattens_the_spectrum() -> None:
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    iso = isotropic(delta)
    s_before = torch.linalg.svdvals(delta)
    s_after = torch.linalg.svdvals(iso)
    torch.testing.assert_close(s_after, s_before.mean(-1, keepdim=True).expand_as(s_after))
    # same left singular subspace: projecting iso onto delta's column space changes nothing
    u, _, _ = torch.linalg.svd(delta, full_matrices=False)
    torch.testing.assert_close(u @ (u.mT @ iso), iso)


def test_iso_c_merges_matrices_and_sums_biases() -> None:
    pool = tiny_pool()
    rows = get("iso-c").rows(pool, get("iso-c").params())
    parts = pool.layout.unflatten(rows)
    t, s = pool.layout.unflatten(pool.target_vector), pool.layout.unflatten(pool.source_vectors)
    torch.testing.assert_close(
        parts["feat_proj.bias"][1], t["feat_proj.bias"] + s["feat_proj.bias"][1]
    )
    torch.testing.assert_close(
        parts["feat_proj.weight"][0], isotropic(t["feat_proj.weight"] + s["feat_proj.weight"][0])
    )


def test_iso_cts_is_isotropic_and_keeps_the_common_space() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 20, 30, generator=g, dtype=torch.float64)
    b = torch.randn(2, 20, 30, generator=g, dtype=torch.float64)
    merged = iso_cts([a, b], common_fraction=0.8)  # rank 20: 16 common + 2 per task
    s = torch.linalg.svdvals(merged)
    assert torch.allclose(s, s[..., :1].expand_as(s), rtol=1e-8)  # every direction equal
    u, _, _ = torch.linalg.svd(a + b, full_matrices=False)
    common = u[..., :16]
    q, _, _ = torch.linalg.svd(merged, full_matrices=False)
    # the common directions lie in the merged update's column space
    torch.testing.assert_close(q @ (q.mT @ common), common)


@pytest.mark.parametrize(
    ("rank", "fraction", "tasks", "split"),
    [(16, 0.8, 2, (12, 2)), (20, 0.8, 2, (16, 2)), (7, 0.5, 2, (3, 2)), (1, 0.8, 2, (1, 0))],
)
def test_rank_split_uses_the_whole_rank(rank, fraction, tasks, split) -> None:
    assert rank_split(rank, fraction, tasks) == split
    common, per_task = split
    assert common + tasks * per_task == rank


def test_iso_cts_keeps_full_rank_when_the_remainder_is_odd() -> None:
    """A 32 × 16 pair at the default 0.8: 12 common + 2 per task = rank 16 with a flat
    spectrum (rounding the common share first, 13, left 3 for two tasks and lost one)."""
    g = torch.Generator().manual_seed(2)
    a = torch.randn(32, 16, generator=g, dtype=torch.float64)
    b = torch.randn(32, 16, generator=g, dtype=torch.float64)
    s = torch.linalg.svdvals(iso_cts([a, b], common_fraction=0.8))
    assert int((s > 1e-9 * s[0]).sum()) == 16
    assert torch.allclose(s, s[:1].expand_as(s), rtol=1e-8)


def test_iso_cts_rank_one_layer() -> None:
    """A 1×A layer (the attention score) has rank 1: Iso-CTS keeps it as it is."""
    a = torch.tensor([[[1.0, 2.0, 2.0]]], dtype=torch.float64)
    b = torch.tensor([[[0.0, 1.0, 0.0]]], dtype=torch.float64)
    torch.testing.assert_close(iso_cts([a, b], 0.8), a + b)


def test_scalar_merge_starts_at_the_mean_and_trains_only_weights_and_head() -> None:
    pool = tiny_pool(3)
    rows = pool.source_vectors
    model = ScalarMerge(ARCH, pool.layout, pool.base, rows, seed=0)
    torch.testing.assert_close(model.encoder(), pool.base + rows.mean(0))
    names = [n for n, _ in model.trainable()]
    assert sorted(names) == ["head.bias", "head.weight", "weights"]
    model(torch.randn(4, 3)).sum().backward()
    assert model.weights.grad is not None and model.head.weight.grad is not None
    assert all(p.grad is None for p in model.body.parameters())
    assert model.base.grad is None and not model.rows.requires_grad


def test_unknown_method() -> None:
    from steph_cli.errors import StephError

    with pytest.raises(
        StephError, match="unknown merge method 'magic'; choose one of ada, average, finetune"
    ):
        get("magic")
