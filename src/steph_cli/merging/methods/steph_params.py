"""STEPH's parameters (METHOD §4 defaults), apart from the method so that its training
(``merging.steph_training``) can take them without importing the method, which imports
that training when it merges."""

from dataclasses import dataclass

from steph_cli.errors import BadInputError
from steph_cli.merging.methods.params import LearnedParams, param

WEIGHT_ACTIVATIONS = ("relu", "softplus", "sigmoid")
LAMBDA_MODES = ("hyper", "source", "fixed")
BASES = ("init", "target")
SCOPES = ("encoder", "head", "all")


@dataclass(frozen=True)
class StephParams(LearnedParams):
    top_k: int = param(5, "mixtures selected per bag", low=1)
    beta_w: float = param(0.0, "weight of the z-loss + load-balance term on w", low=0.0)
    beta_lambda: float = param(0.05, "weight of the L2 term on the mixup shares λ", low=0.0)
    weight_activation: str = param(
        "softplus", "output activation of the weight head", choices=WEIGHT_ACTIVATIONS
    )
    weight_bias: float | None = param(
        None, "initial bias of the weight head's output [default: act⁻¹(1/k): Σ_K w starts at 1]"
    )
    lambda_mode: str = param(
        "hyper",
        "how the mixup shares λ are made: per bag by the hypernetwork, one learned value per "
        "source, or fixed",
        choices=LAMBDA_MODES,
    )
    lambda_value: float | None = param(
        None,
        "λ with lambda mode fixed [default: 0.5]; 0 = input-dependent weights without mixup",
        low=0.0,
        high=1.0,
    )
    base: str = param(
        "init", "what the merge adds to: θ_init (the paper) or the target expert", choices=BASES
    )
    scope: str = param(
        "encoder",
        "the parameters merged: the MIL encoder (the paper), the head, or all of them",
        choices=SCOPES,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lambda_value is not None and self.lambda_mode != "fixed":
            raise BadInputError(
                f"lambda_value = {self.lambda_value} applies to lambda_mode fixed, not "
                f"{self.lambda_mode}"
            )
        if self.scope == "head" and self.base == "init":
            raise BadInputError(
                "scope head with base init would leave the encoder at θ_init; use base target"
            )
        if self.scope != "encoder" and self.head_init != "target":
            raise BadInputError(
                f"head_init {self.head_init} does not apply when the head is merged (scope "
                f"{self.scope})"
            )
