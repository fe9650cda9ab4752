"""Model files: safetensors with string metadata, written atomically, never pickled.

Every file carries: format version, kind (init/expert/vector/merged), architecture JSON,
time bins JSON, cohort, fold, seed, the sha256 of the ``init.safetensors`` it descends from,
training config JSON, test metrics JSON and the steph version — enough to refuse mixing
files that do not belong together.
"""

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load

from steph_cli import __version__
from steph_cli.errors import BadInputError, brief
from steph_cli.models.arch import Architecture
from steph_cli.models.header import read_metadata
from steph_cli.workspace import atomic
from steph_cli.workspace.paths import remake

FORMAT_VERSION = "1"
KINDS = ("init", "expert", "vector", "merged")
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass
class ModelFile:
    tensors: dict[str, torch.Tensor]
    meta: dict[str, str]
    path: Path | None = None

    @property
    def arch(self) -> Architecture:
        return Architecture.from_json(self.meta["architecture"])

    def json(self, key: str) -> object:
        return json.loads(self.meta.get(key) or "null")


def serialize(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors layout with a canonical header (sorted keys, tensors by name).

    ``safetensors.torch.save`` orders the metadata through a hash map, so the same model can
    give different bytes in two processes; CI compares files byte for byte, so we write the
    (simple, documented) layout ourselves and read it back with the safetensors library.
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write(
    path: Path,
    tensors: dict[str, torch.Tensor],
    kind: str,
    arch: Architecture,
    **meta: object,
) -> str:
    """Write a model file atomically and return its sha256.

    ``meta`` values that are not strings are stored as JSON; the bytes depend only on the
    tensors' values and the metadata.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind}")
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "architecture": arch.to_json(),
        "steph_version": __version__,
    }
    for key, value in meta.items():
        header[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    data = serialize(tensors, header)
    atomic.write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _corrupt(path: Path, exc: Exception) -> BadInputError:
    return BadInputError(
        f"{path}: corrupt or truncated safetensors file ({brief(exc)})", remake(path)
    )


def read(path: Path, kind: str | None = None) -> ModelFile:
    """Load a model file, checking that it is one of ours and, if given, of ``kind``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"model file {path} does not exist")
    data = path.read_bytes()
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise _corrupt(path, exc) from exc
    meta = read_metadata(path)
    if "kind" not in meta or "architecture" not in meta:
        raise BadInputError(f"{path}: not a steph model file (no kind/architecture metadata)")
    if kind is not None and meta["kind"] != kind:
        raise BadInputError(f"{path}: is a {meta['kind']} file, expected {kind}")
    if int(meta.get("format_version", "0")) > int(FORMAT_VERSION):
        raise BadInputError(f"{path}: written by a newer steph (format {meta['format_version']})")
    return ModelFile(tensors, meta, path)
