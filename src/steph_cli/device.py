"""Turn a device name into a torch device: auto = first CUDA GPU, else MPS, else CPU."""

import torch

from steph_cli.errors import BadInputError, Fix


def resolve(spec: str) -> torch.device:
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInputError(
                f"device {spec!r}: no CUDA GPU is available", Fix.set("device", value="cpu")
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise BadInputError(
                f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) available"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BadInputError(
            f"device {spec!r}: MPS is not available", Fix.set("device", value="cpu")
        )
    return device
