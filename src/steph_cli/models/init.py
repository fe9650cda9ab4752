"""The workspace's shared initialisation θ_init, and the architecture every expert shares.

Created once per workspace from the seed and never changed: every expert of every cancer
starts from it, which is what makes task vectors of different cancers comparable.
"""

from dataclasses import replace

import torch

from steph_cli.errors import IncompatibleModelError
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL
from steph_cli.models.arch import Architecture, ArchOptions
from steph_cli.workspace.hashing import file_sha256
from steph_cli.workspace.paths import Workspace


def create_state(arch: Architecture, seed: int) -> dict[str, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {k: v.detach().clone() for k, v in ABMIL(arch).state_dict().items()}


def architecture(
    ws: Workspace, in_dim: int, n_bins: int, requested: ArchOptions = ArchOptions()
) -> Architecture:
    """The one resolution of the expert architecture: θ_init's where it exists (options that
    disagree with it are refused), else the options asked for over the defaults."""
    if ws.init_file.is_file():
        current = io.read(ws.init_file, kind="init").arch
        wanted = replace(current, **requested.given())  # type: ignore[arg-type]
        if wanted != current:
            raise IncompatibleModelError(
                f"{ws.init_file} was created for {current.to_json()} but {wanted.to_json()} was "
                "asked for; every expert of a workspace shares one architecture (use the same "
                "options, or a new workspace)"
            )
        return current
    return Architecture(in_dim, n_bins=n_bins, **requested.given())  # type: ignore[arg-type]


def ensure(ws: Workspace, arch: Architecture, seed: int) -> tuple[io.ModelFile, str]:
    """Load ``init.safetensors`` (creating it on first use); refuse another architecture."""
    if not ws.init_file.is_file():
        io.write(ws.init_file, create_state(arch, seed), "init", arch, seed=str(seed))
    init = io.read(ws.init_file, kind="init")
    if init.arch != arch:
        raise IncompatibleModelError(
            f"{ws.init_file} was created for {init.arch.to_json()} but {arch.to_json()} was "
            "asked for; use the same architecture options, or a new workspace"
        )
    return init, file_sha256(ws.init_file)
