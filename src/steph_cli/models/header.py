"""The metadata of a safetensors file, read from its header alone (no torch import).

The layout is an 8-byte little-endian header length, then that many bytes of JSON whose
``__metadata__`` entry holds the string metadata; ``steph status`` reads it for every model.
"""

import json
import struct
from pathlib import Path

from steph_cli.errors import BadInputError
from steph_cli.workspace.paths import remake


def read_metadata(path: Path) -> dict[str, str]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > path.stat().st_size - 8:
                raise ValueError(f"header of {length} bytes in a {path.stat().st_size}-byte file")
            header = json.loads(fh.read(length))
    except (OSError, struct.error, ValueError) as exc:
        raise BadInputError(
            f"{path}: corrupt or truncated safetensors file ({exc})", remake(path)
        ) from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def recorded_cindex(path: Path) -> float | None:
    """The test Harrell's C stored in a model file's ``test_metrics`` when it was made."""
    raw = read_metadata(path).get("test_metrics")
    return json.loads(raw).get("harrell_cindex") if raw else None
