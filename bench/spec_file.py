"""Spec files: YAML read safely, with a bound on how large its aliases may make it.

Safe loading stops code execution but not a "billion laughs" file: a few lines of nested
aliases expand to millions of nodes, which hang validation and make messages hundreds of
MB long. The node graph is measured before it is built, counting each alias as the size
of what it points to, and a spec larger than any real matrix is refused.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import UsageError, abridge

# The largest committed spec has a few hundred nodes; a matrix of every task, method, model
# and seed is a few thousand. Ten thousand leaves room and still refuses a bomb at once.
MAX_EXPANDED_NODES = 10_000
MAX_FILE_BYTES = 1_000_000


def expanded_size(node, sizes: dict | None = None) -> int:
    """Nodes in the document once every alias is expanded, computed once per distinct node."""
    import yaml

    sizes = {} if sizes is None else sizes
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once instead of recursing forever
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(expanded_size(k, sizes) + expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(expanded_size(item, sizes) for item in node.value)
    else:
        total = 1
    sizes[id(node)] = total
    return total


def load_spec_file(path: str | Path) -> dict:
    """The spec's mapping; a missing, oversized, malformed or non-mapping file is a UsageError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"spec file not found: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"spec {path} is {path.stat().st_size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and expanded_size(node) > MAX_EXPANDED_NODES:
            raise UsageError(f"spec {path} expands to more than {MAX_EXPANDED_NODES:,} YAML nodes through its "
                             f"aliases; refused (a real matrix spec is far smaller)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"malformed spec {path}: {abridge(error)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"malformed spec {path}: the top level must be a mapping of options")
    return data
