"""Run records: one folder per run with its config, a JSON-lines log, metrics and a manifest.

A lab's CI reruns a study and must learn whether the numbers moved: the manifest records the
command, options, package versions, input file hashes and seed, so a rerun can be compared
with the recorded one. ``metrics.json`` holds only deterministic values (no timings), so
the same seed and data give the same bytes.
"""

import json
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from steph_cli.workspace import atomic
from steph_cli.workspace.paths import Workspace

PACKAGES = ("steph-cli", "torch", "numpy", "scikit-survival", "h5py", "safetensors")


def package_versions() -> dict[str, str | None]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in PACKAGES}


def dumps(payload: object) -> str:
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


@dataclass
class Run:
    directory: Path
    step: str  # train, merge, evaluate, extract, ...
    started: float = field(default_factory=time.time)

    @classmethod
    def start(cls, ws: Workspace, kind: str, name: str) -> "Run":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = ws.runs_dir / f"{stamp}-{kind}-{name}"
        directory, n = base, 1
        while directory.exists():
            n += 1
            directory = base.with_name(f"{base.name}-{n}")
        directory.mkdir(parents=True)
        return cls(directory, kind)

    def log(self, event: str, **fields: object) -> None:
        line = json.dumps({"time": round(time.time(), 3), "event": event, **fields})
        with (self.directory / "log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def write(self, name: str, payload: object) -> None:
        atomic.write_text(self.directory / name, dumps(payload))

    def manifest(
        self,
        call: Mapping[str, object],
        inputs: Mapping[str, str | None],
        outputs: Mapping[str, str],
        seed: int,
    ) -> None:
        """What ran (``call``: the step's arguments, enough to run it again), from which
        inputs and into which outputs (workspace-relative path → sha256), and where."""
        import torch

        self.write(
            "manifest.json",
            {
                "id": self.directory.name,
                "step": self.step,
                "call": call,
                "command": sys.argv,
                "inputs_sha256": dict(inputs),
                "outputs_sha256": dict(outputs),
                "seed": seed,
                "torch_threads": torch.get_num_threads(),
                "packages": package_versions(),
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
                "seconds": round(time.time() - self.started, 3),
            },
        )
