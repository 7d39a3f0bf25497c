"""No path loads code shipped with a model: a directory whose config has `auto_map` never runs
its Python files, and the refusal does not advise enabling remote code."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.errors import UsageError

# transformers imports a copy of the module from its own cache: the marker's path is absolute.
EVIL = '''
import pathlib
pathlib.Path({marker!r}).write_text("remote code ran")
from transformers import PretrainedConfig


class EvilConfig(PretrainedConfig):
    model_type = "evil-arch"
'''


def booby_trap(directory, model_type: str):
    """`directory`'s config gains an auto_map to a module that leaves a marker file when imported."""
    config = json.loads((directory / "config.json").read_text())
    config.update(model_type=model_type, auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                                                   "AutoModel": "configuration_evil.EvilConfig"})
    (directory / "config.json").write_text(json.dumps(config))
    marker = directory / "RAN"
    (directory / "configuration_evil.py").write_text(EVIL.format(marker=str(marker)))
    return marker


@pytest.fixture
def trapped_bert(tmp_path, tiny_model_dir):
    """A real BERT directory whose config also points at remote code."""
    directory = tmp_path / "bert-with-auto-map"
    shutil.copytree(tiny_model_dir, directory)
    return directory, booby_trap(directory, "bert")


@pytest.fixture
def trapped_unknown(tmp_path, tiny_model_dir):
    """A directory whose architecture exists only as remote code."""
    directory = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, directory)
    return directory, booby_trap(directory, "evil-arch")


def test_known_architecture_loads_without_running_the_shipped_code(trapped_bert):
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import TASKS

    directory, marker = trapped_bert
    source = resolve(str(directory))
    model = load_model(source, TASKS.get("glue-sst2").obj)
    load_tokenizer(source)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert not marker.exists()


def test_unknown_architecture_is_refused_without_advice_to_enable_remote_code(trapped_unknown):
    from bench.modeling.load import load_model, resolve
    from bench.registry import TASKS

    directory, marker = trapped_unknown
    with pytest.raises(UsageError) as refused:
        load_model(resolve(str(directory)), TASKS.get("glue-sst2").obj)
    message = str(refused.value)
    assert "never runs a model's own code" in message
    assert "trust_remote_code=True" not in message and "trust_remote_code" not in message
    assert not marker.exists()


@pytest.mark.parametrize("trap", ["trapped_bert", "trapped_unknown"])
def test_a_kd_teacher_directory_never_runs_its_code(trap, request):
    """kd-feature reads the teacher's shape from its config before any training."""
    from bench.distill.teachers import TeacherRef, teacher_shape

    directory, marker = request.getfixturevalue(trap)
    try:
        shape = teacher_shape(TeacherRef(model=str(directory), seed=0))
    except UsageError as refused:
        assert trap == "trapped_unknown" and "trust_remote_code" not in str(refused)
    else:
        assert trap == "trapped_bert" and shape["layers"] == 2
    assert not marker.exists()


def test_a_kd_feature_cell_with_a_trapped_teacher_is_refused_or_safe(trapped_unknown, fast_spec, tiny_glue_dir):
    from bench.runner import run_cell
    from bench.spec import expand

    directory, marker = trapped_unknown
    (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=[f"kd-feature(teacher={directory},student=truncate:1)"]))
    with pytest.raises(UsageError, match="never runs a model's own code"):
        run_cell(cell, data_dir=str(tiny_glue_dir))
    assert not marker.exists()
