"""Run as a user would: the package installed non-editable, `bench` started from a folder that
is not the checkout, every path relative to that folder.

Cells run in their own processes; their records, models and data must still be the ones the
user's relative paths name, and nothing may land in the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--quiet", "--latency", "off", "--max-steps", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The project built and installed (not editable) into a folder of its own; the environment
    that imports it from there and never from the checkout."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "results", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".benchmarks"))
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(site), str(source)], check=True, capture_output=True)
    shutil.rmtree(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BENCH_DATA_DIR")}
    env["PYTHONPATH"] = str(site)
    return env


def bench(args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory, tiny_model_dir, tiny_glue_dir) -> Path:
    """A folder outside the checkout holding the user's model and data under relative names."""
    folder = tmp_path_factory.mktemp("user")
    shutil.copytree(tiny_model_dir, folder / "mdl")
    shutil.copytree(tiny_glue_dir, folder / "data")
    return folder


def test_the_installed_package_is_not_the_checkout(installed, user_folder):
    found = subprocess.run([sys.executable, "-c", "import bench; print(bench.__file__)"], cwd=user_folder,
                           env=installed, capture_output=True, text=True, check=True).stdout.strip()
    assert not Path(found).is_relative_to(ROOT), found


def test_relative_paths_resolve_against_the_callers_folder(installed, user_folder):
    before = set(ROOT.rglob("*.json"))
    done = bench(["run", "--task", "glue-sst2", "--method", "full-ft", "--model", "./mdl", "--data-dir", "data",
                  "--records", "recs", *FAST], user_folder, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    (record_file,) = (user_folder / "recs").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "success" and record["evaluated"]["dev"]["examples"] > 0
    assert set(ROOT.rglob("*.json")) == before  # nothing written into the checkout


def test_default_records_folder_is_in_the_callers_folder(installed, user_folder):
    env = dict(installed, BENCH_DATA_DIR="data")  # relative, as a user may export it
    done = bench(["run", "--task", "glue-sst2", "--method", "full-ft", "--model", "./mdl", *FAST],
                 user_folder, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((user_folder / "runs" / "records").glob("*.json"))) == 1
    assert str(user_folder / "runs" / "records") in done.stdout


def test_the_installed_command_documents_options_and_its_version(installed, user_folder):
    """Help comes from the options dataclasses shipped in the package, not from the checkout."""
    from bench import __version__

    assert bench(["--version"], user_folder, installed).stdout.strip() == f"bench {__version__}"
    done = bench(["list", "methods", "--options"], user_folder, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank of the update BA" in done.stdout and "(no options)" in done.stdout
    done = bench(["show", "glue-sst2", "--data-dir", "data"], user_folder, installed)
    assert done.returncode == 0 and "train 16 rows; dev 8 rows" in done.stdout
    done = bench(["list", "presets"], user_folder, installed)  # no results/ here: none, and no error
    assert done.returncode == 0 and done.stdout == ""
