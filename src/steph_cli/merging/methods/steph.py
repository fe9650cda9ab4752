"""STEPH (METHOD §4): registered here; the hypernetwork lives in ``merging.hyper``."""

from steph_cli.merging.methods import REGISTRY, Method

REGISTRY["steph"] = Method(
    "steph", "hyper", "hypernetwork-driven sparse mixup of target and source task vectors"
)
