"""The model pool of a merge: θ_init, the target's and the sources' experts and task vectors.

Everything is checked before any heavy work: experts must descend from this workspace's
``init.safetensors`` and share its architecture, since task vectors are only meaningful
against the same θ_init.
"""

from dataclasses import dataclass, replace
from functools import cached_property

import torch

from steph_cli.errors import (
    BadInputError,
    Fix,
    IncompatibleModelError,
    MissingArtefactError,
)
from steph_cli.models import io
from steph_cli.models.abmil import encoder_keys
from steph_cli.models.arch import Architecture
from steph_cli.models.layout import Layout
from steph_cli.workspace.hashing import file_sha256
from steph_cli.workspace.paths import Workspace, remake


@dataclass(frozen=True)
class Member:
    cohort: str
    fold: int
    sha256: str
    state: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Pool:
    arch: Architecture
    init: dict[str, torch.Tensor]
    init_sha256: str
    layout: Layout  # the MIL encoder: what task vectors cover
    target: Member
    sources: list[Member]

    # Flattened and stacked once per pool (every method reads them; P is ~1M per row).
    @cached_property
    def base(self) -> torch.Tensor:
        """θ_init's encoder, flattened [P]."""
        return self.layout.flatten(self.init)

    @cached_property
    def target_vector(self) -> torch.Tensor:
        """τ_t [P]."""
        return self.layout.flatten(self.target.state) - self.base

    @cached_property
    def source_vectors(self) -> torch.Tensor:
        """τ_s stacked [M, P] (source order as given)."""
        return self.layout.stack([m.state for m in self.sources]) - self.base

    @property
    def names(self) -> list[str]:
        return [m.cohort for m in self.sources]


def load_init(ws: Workspace) -> tuple[io.ModelFile, str]:
    if not ws.init_file.is_file():
        raise MissingArtefactError(
            f"{ws.init_file} does not exist: no expert was trained in this workspace yet",
            Fix.run("train", "train experts first: {}", cancer="all"),
        )
    return io.read(ws.init_file, kind="init"), file_sha256(ws.init_file)


def load_expert(
    ws: Workspace,
    cohort: str,
    fold: int,
    arch: Architecture,
    init_sha: str,
    control: bool = False,
) -> Member:
    """A real expert, or (``control``) its permuted-label control. Each is refused where the
    other is expected, so a null source can never pass for a real one."""
    path = ws.control_expert_file(cohort, fold) if control else ws.expert_file(cohort, fold)
    if not path.is_file():
        raise MissingArtefactError(
            f"no {'control ' if control else ''}expert for {cohort} fold {fold} ({path})",
            Fix.run("merge", "build it with {}", control="permuted")
            if control
            else Fix.run("train", cancer=cohort, fold=fold),
        )
    model = io.read(path, kind="expert")
    kind = model.meta.get("control")
    if control and kind != "permuted":
        raise IncompatibleModelError(f"{path} is not a permuted-label control expert")
    if not control and kind is not None:
        raise IncompatibleModelError(
            f"{path} is a control expert (trained on {kind} labels), never a real source; "
            f"control experts live in {ws.control_expert_file(cohort, fold).parent.parent}"
        )
    # a control expert is retrained by the forced merge that uses it; a real one by train
    retrain = remake(path, "{} retrains it") or Fix.set("force", "{} retrains it")
    if model.meta.get("init_sha256") != init_sha:
        raise IncompatibleModelError(
            f"{path} descends from init {model.meta.get('init_sha256', 'unknown')[:12]}… but this "
            f"workspace's init.safetensors is {init_sha[:12]}…; task vectors are only "
            "meaningful against the same initialisation",
            retrain,
        )
    if model.arch != arch:
        raise IncompatibleModelError(
            f"{path} has architecture {model.arch.to_json()} but the workspace init has "
            f"{arch.to_json()}",
            retrain,
        )
    return Member(cohort, fold, file_sha256(path), model.tensors)


def check_sources(target: str, sources: list[str]) -> list[str]:
    if target in sources:
        raise BadInputError(f"target {target} is among its own sources {','.join(sources)}")
    if not sources:
        raise BadInputError(f"no source cohorts to merge into {target}")
    return sources


def load_pool(
    ws: Workspace,
    target: str,
    sources: list[str],
    fold: int,
    source_fold: int,
    control: str | None = None,
) -> Pool:
    """The pool of a merge, or of its ``control`` (see ``merging.controls``): the sources'
    permuted-label experts, one zero task vector (``none``), or copies of the target."""
    check_sources(target, sources)
    init, init_sha = load_init(ws)
    arch = init.arch
    target_member = load_expert(ws, target, fold, arch, init_sha)
    if control == "none":
        members = [Member("none", source_fold, init_sha, init.tensors)]
    elif control in ("self", "budget"):
        members = [
            replace(target_member, cohort=f"{target}-self{i + 1}") for i in range(len(sources))
        ]
    else:
        permuted = control == "permuted"
        members = [load_expert(ws, s, source_fold, arch, init_sha, permuted) for s in sources]
    layout = Layout.of(init.tensors, encoder_keys(init.tensors))
    return Pool(arch, init.tensors, init_sha, layout, target_member, members)
