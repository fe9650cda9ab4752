"""Merge options, shared by every method that uses them (plain data, importable without torch)."""

from dataclasses import asdict, dataclass

WEIGHT_ACTIVATIONS = ("relu", "softplus", "sigmoid")
HEAD_INITS = ("target", "fresh")


@dataclass(frozen=True)
class MergeOptions:
    gamma: float = 0.3  # task arithmetic: θ_t + γ Σ τ_s
    density: float = 0.2  # TIES: fraction of largest-magnitude entries kept
    common_fraction: float = 0.8  # Iso-CTS: share of the common subspace
    top_k: int = 5  # STEPH: mixtures selected per bag
    beta_w: float = 0.0  # STEPH: z-loss + load-balance weight
    beta_lambda: float = 0.05  # STEPH: L2 on the mixup shares
    weight_activation: str = "softplus"  # STEPH: output activation of the weight head
    # STEPH: initial bias of the weight head's last layer; None = act⁻¹(1/k), so that the
    # selected weights start summing to about 1
    weight_bias: float | None = None
    # learned merges: the new head starts as the target expert's head, or freshly initialised
    head_init: str = "target"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
