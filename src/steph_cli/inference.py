"""Loading any model file as a bag → hazard-logits module: experts, merged models of every
method, and self-contained STEPH files (hypernetwork, head, θ_init and task vectors)."""

import json
from pathlib import Path

import torch
from torch import nn

from steph_cli.errors import StephError
from steph_cli.merging.hyper import Steph
from steph_cli.merging.layout import Layout
from steph_cli.merging.options import MergeOptions
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL, ENCODER_KEYS


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, io.ModelFile]:
    """The model in ``path`` in eval mode on ``device``, and its file (for metadata)."""
    model_file = io.read(path)
    kind, arch = model_file.meta["kind"], model_file.arch
    if kind not in ("expert", "merged"):
        raise StephError(
            f"{path}: a {kind} file holds no runnable model; give an expert or merged file"
        )
    model: nn.Module
    if model_file.meta.get("method") == "steph":
        options = MergeOptions(**json.loads(model_file.meta["merge_options"]))
        sources = json.loads(model_file.meta["sources"])
        template = ABMIL(arch).state_dict()
        layout = Layout.of(template, list(ENCODER_KEYS))
        empty = torch.zeros(layout.size)
        model = Steph(
            arch, layout, empty, empty, torch.zeros(len(sources), layout.size), options, 0
        )
        missing, unexpected = model.load_state_dict(model_file.tensors, strict=False)
        if unexpected or any(not k.startswith("body.") for k in missing):
            raise StephError(f"{path}: not a complete STEPH model ({missing + unexpected})")
        model.stack_rows()
    else:
        model = ABMIL(arch)
        try:
            model.load_state_dict(model_file.tensors)
        except RuntimeError as exc:
            raise StephError(f"{path}: tensors do not match its architecture ({exc})") from exc
    return model.to(device).eval(), model_file
