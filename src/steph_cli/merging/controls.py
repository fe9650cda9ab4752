"""Controls of a merge: does it transfer knowledge from the sources, or only train the target
better? The same merge, with the same options and training, from null sources:

- ``permuted``: each source's expert trained again on its own cohort with the survival labels
  permuted among the fold's training patients (seeded) — the same slides, no prognosis;
- ``none``: one source whose task vector is zero — the target's own task vector alone;
- ``self``: every source replaced by a copy of the target's expert.

A control merge is written beside the real one as ``METHOD-control-KIND`` and
``steph evaluate`` reports real − control (the transfer effect). The ``budget`` control
(``steph train --like-merge METHOD``) is the target's expert fine-tuned on its own training
patients with the merge's optimiser settings and number of updates: what the merge's
training does, with no source.
"""

CONTROLS = ("permuted", "none", "self")  # merge --control
KINDS = (*CONTROLS, "budget")
SOURCELESS = ("none", "self", "budget")  # need the target's expert alone
_SUFFIX = "-control-"


def label(name: str, control: str) -> str:
    """The model name of ``name``'s control of kind ``control``."""
    return f"{name}{_SUFFIX}{control}"


def real_of(name: str) -> str | None:
    """The real model a control model name belongs to (None if it is not a control)."""
    base, sep, kind = name.rpartition(_SUFFIX)
    return base if sep and kind in KINDS else None
