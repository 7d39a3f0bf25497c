"""Provenance of a record: code version, packages, machine, threads (PROTOCOL: Provenance)."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "torch", "transformers", "datasets", "peft", "adapters", "accelerate", "evaluate",
    "onnx", "onnxruntime", "torchao", "sacrebleu", "scikit-learn", "scipy", "numpy", "tokenizers",
)
REPO_ROOT = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_state() -> dict:
    """Commit and whether the working tree differs from it; None outside a git checkout."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)

    try:
        sha = git("rev-parse", "HEAD")
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"sha": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def provenance() -> dict:
    from bench.measure.hardware import cpu_info, gpu_info
    from bench.measure.threads import thread_settings

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "cpu": cpu_info(),
        "gpu": gpu_info(),
        "threads": thread_settings(),
        "hostname": platform.node(),
    }
