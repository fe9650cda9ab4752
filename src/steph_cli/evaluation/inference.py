"""Loading any model file as a bag → hazard-logits module: experts, and merged models of
every method (each method knows how to load what it wrote, e.g. STEPH's self-contained
files with their hypernetwork, head, θ_init and task vectors)."""

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from steph_cli.errors import BadInputError
from steph_cli.merging import methods
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL


def _expert(model_file: io.ModelFile) -> nn.Module:
    model = ABMIL(model_file.arch)
    model.load_state_dict(model_file.tensors)
    return model


def _merged(model_file: io.ModelFile) -> nn.Module:
    return methods.get(model_file.meta.get("method", "")).load(model_file)


LOADERS: dict[str, Callable[[io.ModelFile], nn.Module]] = {"expert": _expert, "merged": _merged}


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, io.ModelFile]:
    """The model in ``path`` in eval mode on ``device``, and its file (for metadata)."""
    model_file = io.read(path)
    broken = [k for k, t in model_file.tensors.items() if not torch.isfinite(t).all()]
    if broken:
        raise BadInputError(
            f"{path}: {broken[0]} holds NaN or infinite values ({len(broken)} tensor(s)); the "
            "model cannot predict: remake it"
        )
    kind = model_file.meta["kind"]
    if kind not in LOADERS:
        raise BadInputError(
            f"{path}: {kind} files hold no runnable model; give an expert or merged file"
        )
    try:
        model = LOADERS[kind](model_file)
    except RuntimeError as exc:
        raise BadInputError(f"{path}: tensors do not match its architecture ({exc})") from exc
    return model.to(device).eval(), model_file
