"""What a merge method is: a name, a parameters dataclass, how it merges, how its file loads.

A method is a :class:`MergeMethod` subclass registered by name (``methods.register``). Its
``Params`` dataclass is the one place its defaults live: the CLI builds ``steph merge``'s
options from these fields (help from each field's metadata, one help panel per set of
methods that share them), the API accepts them as keyword arguments (names of another
method's parameters are refused, never ignored), and the merged file records them.
Parameters shared by several methods are declared once on a common base
(:class:`LearnedParams`), so they mean the same everywhere.

Two families cover the baselines: :class:`StaticMerge` (an encoder computed from the pool,
the target expert's head kept, no training) and :class:`WeightedRows` (learned scalar
weights over [M, P] rows and a new head). Method modules stay importable without torch, so
that ``steph --help`` and completion start fast; their tensor work imports it when it runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar

from steph_cli.errors import BadInputError
from steph_cli.merging.methods.params import (
    Context,
    LearnedParams,
    Merged,
    MethodParams,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from steph_cli.merging.pool import Pool
    from steph_cli.models.io import ModelFile


class MergeMethod(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[MethodParams]] = MethodParams
    learned: ClassVar[bool] = False  # trains, with the training options
    # reads the sources' experts (not their patients), so null sources are a control of it
    uses_experts: ClassVar[bool] = True

    def params(self, values: MethodParams | dict[str, object] | None = None) -> Any:
        """This method's parameters from an instance, or from a dict of the ones given (the
        rest default); a name this method does not have is refused, never ignored."""
        if isinstance(values, self.Params):
            return values
        if isinstance(values, MethodParams):
            values = values.as_dict()
        given = dict(values or {})
        known = {f.name for f in fields(self.Params)}
        unknown = sorted(set(given) - known)
        if unknown:
            have = ", ".join(sorted(known)) or "none"
            raise BadInputError(
                f"{', '.join(unknown)}: not a parameter of the {self.name} method "
                f"(its parameters: {have})"
            )
        return self.Params(**given)

    @abstractmethod
    def merge(self, pool: Pool, params: Any, ctx: Context) -> Merged:
        """Build the merged model of one target fold."""

    def load(self, model_file: ModelFile) -> nn.Module:
        """The model of a file this method wrote (default: a plain ABMIL state dict)."""
        from steph_cli.models.abmil import ABMIL

        model = ABMIL(model_file.arch)
        model.load_state_dict(model_file.tensors)
        return model


class StaticMerge(MergeMethod):
    """An encoder computed from the pool, the target expert's head kept; nothing trained."""

    @abstractmethod
    def encoder(self, pool: Pool, params: Any) -> torch.Tensor:
        """The merged MIL encoder, flattened [P]."""

    def source_stats(self, pool: Pool, params: Any) -> dict[str, dict[str, float]]:
        return {}

    def merge(self, pool: Pool, params: Any, ctx: Context) -> Merged:
        from steph_cli.models.abmil import ABMIL

        tensors = {k: v.clone() for k, v in pool.target.state.items()}  # target head kept
        tensors.update(pool.layout.unflatten(self.encoder(pool, params)))
        model = ABMIL(pool.arch)
        model.load_state_dict(tensors)
        return Merged(model.to(ctx.data.device).eval(), tensors, self.source_stats(pool, params))


class WeightedRows(MergeMethod):
    """θ = θ_init + Σ_i w_i row_i with learned scalars w (initialised 1/M) and a new head."""

    Params = LearnedParams
    learned = True

    @abstractmethod
    def rows(self, pool: Pool, params: Any) -> torch.Tensor:
        """The [M, P] rows the weights combine, one per source."""

    def merge(self, pool: Pool, params: Any, ctx: Context) -> Merged:
        from steph_cli.merging.learned import train_rows

        return train_rows(self.name, self.rows(pool, params), pool, params, ctx)
