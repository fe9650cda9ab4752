"""Training and architecture options (plain data, importable without torch)."""

from dataclasses import asdict, dataclass

from steph_cli.models.arch import Architecture


@dataclass(frozen=True)
class TrainConfig:
    """METHOD §2 defaults; learned merges use the same schedule."""

    epochs: int = 20
    lr: float = 1e-4
    weight_decay: float = 1e-5
    accumulate: int = 16
    warmup_epochs: int = 1
    alpha_u: float = 0.5
    seed: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


# Learned merges (steph, ada, ties, iso-c, iso-cts) move the encoder only through a few
# mixing weights per bag, so at the experts' lr of 1e-4 they barely leave their start in the
# ~100 updates a small cohort gives. Measured on the demo (docs/merging.md): STEPH's mean
# C-index over 7 cohorts 0.690 at 1e-4 and 0.710 at 1e-3 (experts 0.694); experts trained at
# 1e-3 did not improve.
MERGE_LR = 1e-3


@dataclass(frozen=True)
class ArchOptions:
    """Architecture options; the feature dimension and bins come from the workspace."""

    embed_dim: int = 512
    attn_dim: int = 384
    dropout: float = 0.25

    def build(self, in_dim: int, n_bins: int) -> Architecture:
        return Architecture(in_dim, self.embed_dim, self.attn_dim, n_bins, self.dropout)
