"""Merge options, shared by every method that uses them (plain data, importable without torch)."""

from dataclasses import asdict, dataclass

WEIGHT_ACTIVATIONS = ("relu", "softplus", "sigmoid")


@dataclass(frozen=True)
class MergeOptions:
    gamma: float = 0.3  # task arithmetic: θ_t + γ Σ τ_s
    density: float = 0.2  # TIES: fraction of largest-magnitude entries kept
    common_fraction: float = 0.8  # Iso-CTS: share of the common subspace
    top_k: int = 5  # STEPH: mixtures selected per bag
    beta_w: float = 0.0  # STEPH: z-loss + load-balance weight
    beta_lambda: float = 0.05  # STEPH: L2 on the mixup shares
    weight_activation: str = "softplus"  # STEPH: output activation of the weight head
    weight_bias: float = 1.0  # STEPH: initial bias of the weight head's last layer

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
