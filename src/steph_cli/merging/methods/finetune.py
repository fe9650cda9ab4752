"""Fine-tuning: start from one source's expert — named, or the one whose task vector is most
similar (cosine) to the target's — and train all of it on the target's training patients.
The "reuse another cancer's model" answer that needs no merging at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import MergeMethod
from steph_cli.merging.methods.params import Context, Merged, MethodParams, param

if TYPE_CHECKING:
    from steph_cli.merging.pool import Pool


@dataclass(frozen=True)
class FinetuneParams(MethodParams):
    from_source: str | None = param(
        None, "source whose expert is fine-tuned [default: the most similar task vector]"
    )


@register
class Finetune(MergeMethod):
    name = "finetune"
    summary = "one source expert (the most similar by task vector) fine-tuned on the target"
    Params = FinetuneParams
    learned = True

    def merge(self, pool: Pool, params: FinetuneParams, ctx: Context) -> Merged:
        import torch

        from steph_cli.errors import BadInputError
        from steph_cli.merging.learned import fit_merged
        from steph_cli.models.abmil import ABMIL
        from steph_cli.training.fold import plain, plain_packed

        unit = torch.nn.functional.normalize
        cosine = (unit(pool.source_vectors, dim=1) @ unit(pool.target_vector, dim=0)).tolist()
        if params.from_source is None:
            chosen = max(range(len(cosine)), key=lambda i: (cosine[i], -i))
        elif params.from_source in pool.names:
            chosen = pool.names.index(params.from_source)
        else:
            raise BadInputError(
                f"from_source {params.from_source!r} is not a source of this merge "
                f"({', '.join(pool.names)})"
            )
        model = ABMIL(pool.arch)
        model.load_state_dict(pool.sources[chosen].state)
        packed = plain_packed(model, ctx.data)
        history = fit_merged(model, plain(model), ctx, self.name, packed=packed)
        stats = {
            n: {"cosine": c, "weight": float(i == chosen)}
            for i, (n, c) in enumerate(zip(pool.names, cosine, strict=True))
        }
        meta: dict[str, object] = {"from_source": pool.names[chosen]}
        return Merged(model, model.state_dict(), stats, history, meta)
