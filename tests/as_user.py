"""`bench ARGS` as a user types it: its own process, started from a folder that is not the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bench(args, cwd: Path, **env) -> subprocess.CompletedProcess:
    """Run `python -m bench ARGS` in `cwd` with `env` on top of this environment."""
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})
