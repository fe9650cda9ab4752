"""Matplotlib behind the optional ``plot`` extra, headless."""

from types import ModuleType

from steph_cli.errors import BadInputError


def pyplot() -> ModuleType:
    try:
        import matplotlib
    except ImportError:
        raise BadInputError("plotting needs matplotlib: pip install 'steph-cli[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
