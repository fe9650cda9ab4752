"""ABMIL and model files: shapes, attention, parameter layout, metadata, refusals."""

import pytest
import torch

from steph_cli.errors import StephError
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.header import read_metadata
from steph_cli.models.init import create_state
from steph_cli.workspace.hashing import file_sha256

ARCH = Architecture(in_dim=6, embed_dim=8, attn_dim=5, n_bins=4)


def test_forward_shapes_and_attention() -> None:
    model = ABMIL(ARCH).eval()
    bag = torch.randn(11, 6)
    z, alpha = model.embed(bag)
    assert z.shape == (8,) and alpha.shape == (11,)
    assert alpha.sum().item() == pytest.approx(1.0)
    assert model(bag).shape == (4,)
    # a bag is a set: patch order does not matter
    perm = torch.randperm(11)
    torch.testing.assert_close(model(bag[perm]), model(bag))


def test_attention_matches_the_formula() -> None:
    model = ABMIL(ARCH).eval()
    bag = torch.randn(3, 6)
    h = torch.relu(bag @ model.feat_proj.weight.T + model.feat_proj.bias)
    att = model.attention_net
    a = torch.tanh(h @ att.a.weight.T + att.a.bias) * torch.sigmoid(h @ att.b.weight.T + att.b.bias)
    s = a @ att.c.weight.squeeze(0) + att.c.bias
    z = torch.softmax(s, 0) @ h
    torch.testing.assert_close(model(bag), z @ model.head.weight.T + model.head.bias)


def test_task_vector_covers_encoder_only() -> None:
    state = ABMIL(ARCH).state_dict()
    keys = encoder_keys(dict(reversed(list(state.items()))))  # any order in, model order out
    assert keys == [k for k in state if not k.startswith("head.")]
    assert keys == [
        "feat_proj.weight",
        "feat_proj.bias",
        "attention_net.a.weight",
        "attention_net.a.bias",
        "attention_net.b.weight",
        "attention_net.b.bias",
        "attention_net.c.weight",
        "attention_net.c.bias",
    ]


def test_init_is_deterministic() -> None:
    a, b, c = create_state(ARCH, 1), create_state(ARCH, 1), create_state(ARCH, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["feat_proj.weight"], c["feat_proj.weight"])


def test_file_round_trip_and_metadata(tmp_path) -> None:
    state = create_state(ARCH, 0)
    sha = io.write(
        tmp_path / "m.safetensors",
        state,
        "expert",
        ARCH,
        cohort="X",
        fold="0",
        test_metrics={"harrell_cindex": 0.7},
    )
    assert sha == file_sha256(tmp_path / "m.safetensors")
    back = io.read(tmp_path / "m.safetensors", kind="expert")
    assert all(torch.equal(back.tensors[k], state[k]) for k in state)
    assert back.arch == ARCH and back.meta["cohort"] == "X"
    assert back.json("test_metrics") == {"harrell_cindex": 0.7}
    with pytest.raises(StephError, match="is a expert file, expected init"):
        io.read(tmp_path / "m.safetensors", kind="init")


def test_truncated_file_is_refused(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    io.write(path, create_state(ARCH, 0), "expert", ARCH)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(StephError, match="corrupt or truncated safetensors"):
        io.read(path)
    with pytest.raises(StephError, match="corrupt or truncated safetensors"):
        read_metadata(path)  # the header alone is read without torch, and checked too


def test_serialisation_is_canonical_and_readable_by_safetensors(tmp_path) -> None:
    from safetensors.torch import load_file

    tensors = {
        "b": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "a": torch.tensor([1, 2], dtype=torch.int64),
        "h": torch.ones(3, dtype=torch.bfloat16),
        "s": torch.tensor(2.5),
    }
    meta = {"z": "1", "kind": "x", "m": '{"k": 1}'}
    first = io.serialize(tensors, meta)
    again = io.serialize(dict(reversed(list(tensors.items()))), dict(reversed(list(meta.items()))))
    assert first == again
    (tmp_path / "t.safetensors").write_bytes(first)
    back = load_file(tmp_path / "t.safetensors")
    assert set(back) == set(tensors)
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert read_metadata(tmp_path / "t.safetensors") == meta


def test_training_dropout_has_the_two_mask_distribution() -> None:
    """Two independent dropouts (p = 0.25) on tanh and sigmoid keep a gate entry with
    probability 0.75² = 0.5625, scaled by 1/0.5625, so the mean gate is unchanged."""
    att = ABMIL(Architecture(4, 16, 400, 2, dropout=0.25)).attention_net.train()
    torch.manual_seed(0)
    h = torch.randn(2000, 16)
    mask = att.mask(2000, h)
    assert mask is not None and mask.shape == (2000, 400)
    assert mask.double().mean().item() == pytest.approx(0.5625, abs=0.005)
    assert att.keep == 0.5625  # the kept entries are scaled by 1/0.5625: mean gate unchanged
    assert att.eval().mask(2000, h) is None  # no dropout at inference
