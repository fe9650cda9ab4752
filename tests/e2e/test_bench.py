"""The benchmarks still run (at toy sizes): a refactor must not leave them broken.

Nothing here is timed; the figures are the benchmarks' business.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("train_throughput.py", ["--sizes", "64", "--bags", "2", "--rounds", "1"], "gemm"),
        (
            "merge_throughput.py",
            ["--sizes", "64", "--sources", "2", "--bags", "2", "--rounds", "1"],
            "gemm",
        ),
        (
            "extract_throughput.py",
            ["--size", "1024", "--rounds", "1", "--encoder", "vit_tiny_patch16_224"],
            "tiles/s",
        ),
        (
            "inference_cost.py",
            ["--sizes", "64", "--sources", "2", "--rounds", "1", "--dim", "16"],
            "routing",
        ),
        ("merge_memory.py", ["--sources", "2", "--size", "64", "--steps", "1"], "added"),
        (
            "threads.py",
            ["--sizes", "32", "--rounds", "1", "--seconds", "0.05", "--busy-seconds", "0.5"],
            "new policy: busy now",
        ),
        (
            "gpu.py",
            [
                *("--sizes", "64", "--group", "2", "--rounds", "1", "--dim", "16"),
                *("--embed", "8", "--attn", "4", "--tiles", "2"),
                *("--encoder", "vit_tiny_patch16_224"),
            ],
            "bags/s",
        ),
        (
            "scale.py",
            ["--epochs", "1", "--noop", "4", "--cancers", "2", "--patients", "16"],
            "per-task overhead",
        ),
    ],
)
def test_benchmark_runs(script, args, expect, tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expect in result.stdout
