"""The workspace's shared initialisation θ_init.

Created once per workspace from the seed and never changed: every expert of every cancer
starts from it, which is what makes task vectors of different cancers comparable.
"""

import torch

from steph_cli.errors import StephError
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL, Architecture
from steph_cli.workspace.paths import Workspace


def create_state(arch: Architecture, seed: int) -> dict[str, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {k: v.detach().clone() for k, v in ABMIL(arch).state_dict().items()}


def ensure(ws: Workspace, arch: Architecture, seed: int) -> tuple[io.ModelFile, str]:
    """Load ``init.safetensors`` (creating it on first use); refuse another architecture."""
    if not ws.init_file.is_file():
        io.write(ws.init_file, create_state(arch, seed), "init", arch, seed=str(seed))
    init = io.read(ws.init_file, kind="init")
    if init.arch != arch:
        raise StephError(
            f"{ws.init_file} was created for {init.arch.to_json()} but {arch.to_json()} was "
            "asked for; use the same architecture options, or a new workspace"
        )
    return init, io.sha256(ws.init_file)
