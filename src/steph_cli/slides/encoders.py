"""Patch encoders by name, built with timm and loaded from a local weights file only.

Each named encoder records the timm architecture and keyword arguments of its published
model card, the feature dimension, and its published preprocessing (input size, resize
interpolation, normalisation). Nothing is downloaded: the architecture is built with
``pretrained=False`` and the weights come from a local file (safetensors, or a torch file read
with ``weights_only=True``).
"""

import importlib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from steph_cli.errors import BadInputError, Fix, brief

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
CUSTOM = "custom"
# Checkpoints often wrap the encoder's keys in one of these.
KEY_PREFIXES = ("module.", "model.", "trunk.", "visual.trunk.", "encoder.")


@dataclass(frozen=True)
class EncoderSpec:
    """What it takes to rebuild a published encoder and feed it like its authors did."""

    name: str
    timm_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    dim: int | None = None  # None: found by a forward pass
    input_size: int = 224
    interpolation: str = "bilinear"
    normalize: tuple[tuple[float, ...], tuple[float, ...]] = IMAGENET
    # "model": the model's own pooled output; "cls+mean": class token concatenated with the
    # mean patch token (Virchow2); "map": average of the last feature map (truncated CNNs).
    pooling: str = "model"
    note: str = ""


_SWIGLU = {"mlp_layer": "timm.layers.SwiGLUPacked", "act_layer": "torch.nn.SiLU"}
# What the ViT-based encoders share: LayerScale, a pooled output, any input size.
_VIT = {"init_values": 1e-5, "num_classes": 0, "dynamic_img_size": True}
ENCODERS: dict[str, EncoderSpec] = {
    s.name: s
    for s in (
        EncoderSpec(
            "uni2-h",
            "vit_giant_patch14_224",
            dict(
                img_size=224,
                patch_size=14,
                depth=24,
                num_heads=24,
                embed_dim=1536,
                mlp_ratio=2.66667 * 2,
                no_embed_class=True,
                reg_tokens=8,
                **_VIT,
                **_SWIGLU,
            ),
            dim=1536,
        ),
        EncoderSpec(
            "uni",
            "vit_large_patch16_224",
            dict(img_size=224, patch_size=16, **_VIT),
            dim=1024,
        ),
        EncoderSpec(
            "virchow2",
            "vit_huge_patch14_224",
            dict(
                img_size=224,
                mlp_ratio=5.3375,
                global_pool="",
                reg_tokens=4,
                **_VIT,
                **_SWIGLU,
            ),
            dim=2560,
            interpolation="bicubic",
            pooling="cls+mean",
        ),
        EncoderSpec(
            "conch-v1.5",
            "vit_large_patch16_224",
            dict(img_size=448, patch_size=16, **_VIT),
            dim=1024,
            input_size=448,
            interpolation="bicubic",
            normalize=OPENAI_CLIP,
            note="the ViT-L/16 trunk; the 768-d attentional pooler and projection are not in timm",
        ),
        EncoderSpec(
            "resnet50-trunc",
            "resnet50",
            dict(features_only=True, out_indices=(3,)),
            dim=1024,
            pooling="map",
            note="ImageNet ResNet-50 up to layer 3, average-pooled (CLAM's baseline)",
        ),
    )
}
NAMES = (*ENCODERS, CUSTOM)


def import_timm() -> ModuleType:
    """Import timm, tolerating a torchvision whose compiled operators do not match torch.

    timm imports torchvision's pure-Python parts only, but torchvision's ``__init__`` registers
    fake kernels for ``torchvision::nms``/``qnms`` unconditionally, which fails when its
    compiled ops cannot load (a CPU build of torch beside PyPI's CUDA torchvision). Declaring
    the two schemas lets the import finish; torchvision's detection operators stay unusable,
    and steph never calls them.
    """
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise BadInputError(
            "timm is not installed; install the wsi extra: pip install 'steph-cli[wsi]'"
        ) from exc
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _KEEP_ALIVE.append(lib)  # a Library deregisters its definitions when collected
    return importlib.import_module("timm")


_KEEP_ALIVE: list[Any] = []


def _resolve(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted class paths of ``*_layer`` arguments into the classes timm expects."""
    out = {}
    for key, value in kwargs.items():
        if key.endswith("_layer") and isinstance(value, str) and "." in value:
            module, _, attr = value.rpartition(".")
            try:
                value = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise BadInputError(
                    f"timm keyword arguments: cannot import {key}={value!r}"
                ) from exc
        out[key] = value
    return out


def custom_spec(timm_name: str | None, timm_kwargs: str | None) -> EncoderSpec:
    """A spec for ``--encoder custom``: preprocessing from timm's config for the architecture."""
    if not timm_name:
        raise BadInputError(
            "the custom encoder needs a timm architecture name",
            Fix.set("timm_name", "give {}", "vit_small_patch16_224"),
        )
    try:
        kwargs = json.loads(timm_kwargs) if timm_kwargs else {}
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"timm keyword arguments {timm_kwargs!r} are not valid JSON: {exc}"
        ) from exc
    if not isinstance(kwargs, dict):
        raise BadInputError(
            f"timm keyword arguments {timm_kwargs!r} must be a JSON object, "
            "e.g. '{\"num_classes\": 0}'"
        )
    kwargs.setdefault("num_classes", 0)
    return EncoderSpec(CUSTOM, timm_name, kwargs)


def spec_for(name: str, timm_name: str | None = None, timm_kwargs: str | None = None):
    if name == CUSTOM:
        return custom_spec(timm_name, timm_kwargs)
    if name not in ENCODERS:
        raise BadInputError(f"unknown encoder {name!r}; use one of {', '.join(NAMES)}")
    if timm_name or timm_kwargs:
        raise BadInputError(
            "a timm architecture name or keyword arguments go with the custom encoder only, "
            f"not {name}"
        )
    return ENCODERS[name]


def build_model(spec: EncoderSpec) -> tuple[nn.Module, EncoderSpec]:
    """The timm architecture with random weights, and the spec completed from timm's config."""
    timm = import_timm()
    try:
        model = timm.create_model(spec.timm_name, pretrained=False, **_resolve(spec.kwargs))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise BadInputError(
            f"timm cannot build {spec.timm_name!r} with {spec.kwargs}: {exc}"
        ) from exc
    if spec.name == CUSTOM:
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        size = spec.kwargs.get("img_size", cfg.get("input_size", (3, 224, 224))[-1])
        spec = replace(
            spec,
            input_size=int(size[-1] if isinstance(size, list | tuple) else size),
            interpolation=cfg.get("interpolation", "bilinear"),
            normalize=(tuple(cfg.get("mean", IMAGENET[0])), tuple(cfg.get("std", IMAGENET[1]))),
        )
    return model, spec


def _strip_prefix(state: dict[str, torch.Tensor], wanted: set[str]) -> dict[str, torch.Tensor]:
    if wanted & state.keys():
        return state
    for prefix in KEY_PREFIXES:
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if wanted & stripped.keys():
            return stripped
    return state


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file, never unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"encoder weights {path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInputError(
            f"encoder weights {path}: cannot read ({brief(exc)}); give a safetensors file or "
            "a torch state dict"
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise BadInputError(
            f"encoder weights {path}: expected a state dict, found {type(state).__name__}"
        )
    return state


def load_weights(model: nn.Module, path: Path, name: str) -> None:
    """Load every one of the model's tensors from ``path``; extra tensors (heads) are ignored."""
    state = _strip_prefix(read_weights(path), set(model.state_dict()))
    try:
        missing, _ = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise BadInputError(
            f"encoder weights {path}: do not fit the {name} encoder ({first})"
        ) from exc
    if missing:
        raise BadInputError(
            f"encoder weights {path}: {len(missing)} of the {name} encoder's tensors are missing "
            f"(e.g. {', '.join(missing[:3])}); is this the {name} checkpoint?"
        )


class Encoder(nn.Module):
    """uint8 RGB tiles [B, H, W, 3] in, features [B, D] out, preprocessing included.

    Resizing and normalisation run as tensor operations on the encoder's device, so a GPU does
    them in the batch rather than workers doing them per tile.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, spec: EncoderSpec) -> None:
        super().__init__()
        self.model, self.spec = model, spec
        mean, std = spec.normalize
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.dim = spec.dim or self._probe_dim()

    def _probe_dim(self) -> int:
        with torch.inference_mode():
            return int(self(torch.zeros(1, 8, 8, 3, dtype=torch.uint8)).shape[-1])

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        x = tiles.permute(0, 3, 1, 2).to(self.mean.dtype) / 255.0
        size = self.spec.input_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(
                x,
                size=(size, size),
                mode=self.spec.interpolation,
                antialias=True,
                align_corners=False,
            )
        x = (x - self.mean) / self.std
        out = self.model(x)
        if self.spec.pooling == "map":
            return out[-1].mean(dim=(2, 3))
        if self.spec.pooling == "cls+mean":
            prefix = getattr(self.model, "num_prefix_tokens", 1)
            return torch.cat([out[:, 0], out[:, prefix:].mean(dim=1)], dim=-1)
        return out


def load_encoder(
    name: str,
    weights: Path | None,
    timm_name: str | None = None,
    timm_kwargs: str | None = None,
) -> Encoder:
    """The named (or custom) encoder with its weights, in eval mode on the CPU."""
    spec = spec_for(name, timm_name, timm_kwargs)
    if weights is None:
        raise BadInputError(
            f"the {name} encoder needs its checkpoint on local disk (steph never downloads "
            "weights)",
            Fix.set("weights", "give {}", "FILE"),
        )
    model, spec = build_model(spec)
    load_weights(model, weights, spec.timm_name if name == CUSTOM else name)
    return Encoder(model, spec).eval()
