"""Registry semantics, strict spec validation, method chains and content-addressed cell keys."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench.cell import Budget, Cell, MeasureSettings, Stage
from bench.errors import UsageError
from bench.registry import METHODS, MODELS, TABLES, TASKS, Registry
from bench.spec import expand, parse_chain

VERSIONS = {"torch": "1.0", "transformers": "2.0"}


def full_ft_default_lr() -> float:
    return METHODS.get("full-ft").meta.options().lr


# --- registry ---------------------------------------------------------------


def test_registry_register_get_names_and_metadata():
    registry = Registry("widget")

    @registry.register("alpha", family="greek", paper="A 2020")
    def alpha():
        return "a"

    registry.register("beta", object(), family="greek")
    assert registry.names() == ["alpha", "beta"]
    entry = registry.get("alpha")
    assert entry.obj is alpha and entry.obj() == "a"  # the decorator returns the function itself
    assert entry.family == "greek" and entry.paper == "A 2020"
    assert "alpha" in registry and "gamma" not in registry
    with pytest.raises(AttributeError):
        _ = entry.metric
    assert [e.name for e in registry.entries()] == ["alpha", "beta"]


def test_registry_rejects_duplicate_names():
    registry = Registry("widget")
    registry.register("alpha", 1)
    with pytest.raises(ValueError, match="duplicate widget name 'alpha'"):
        registry.register("alpha", 2)
    with pytest.raises(ValueError, match="alpha"):
        registry.register("alpha")(lambda: None)
    assert registry.get("alpha").obj == 1


def test_registry_unknown_name_suggests_the_closest():
    registry = Registry("widget")
    for name in ("alpha", "beta", "gamma"):
        registry.register(name, name)
    with pytest.raises(UsageError) as info:
        registry.get("alpah")
    message = str(info.value)
    assert "unknown widget 'alpah'" in message and "Did you mean 'alpha'?" in message
    assert "alpha, beta, gamma" in message  # and every valid name
    with pytest.raises(UsageError) as info:
        registry.get("zzzzzzzz")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize(
    "registry, wrong, right",
    [(TASKS, "glue-sts", "glue-stsb"), (METHODS, "ful-ft", "full-ft"),
     (MODELS, "tinybert", "tinybert4"), (TABLES, "sumary", "summary")],
)
def test_global_registries_suggest(registry, wrong, right):
    with pytest.raises(UsageError, match=f"Did you mean '{right}'"):
        registry.get(wrong)


def test_every_method_declares_frozen_options_and_a_paper():
    for entry in METHODS.entries():
        options = entry.meta.options
        assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen, entry.name
        assert entry.paper, entry.name


# --- spec validation --------------------------------------------------------


def expect_usage_error(spec: dict, *fragments: str) -> str:
    with pytest.raises(UsageError) as info:
        expand(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_expand_gives_the_product_of_the_matrix(fast_spec, tiny_model_dir):
    cells = expand(fast_spec(tasks=["glue-rte", "glue-sst2"], seeds=[0, 1, 2],
                             methods=["full-ft", "full-ft(lr=3e-4)"]))
    assert len(cells) == 2 * 3 * 2
    assert len({c.key(VERSIONS) for c in cells}) == len(cells)
    assert {c.task for c in cells} == {"glue-rte", "glue-sst2"} and {c.seed for c in cells} == {0, 1, 2}
    assert all(c.model == str(tiny_model_dir) and c.device == "cpu" for c in cells)
    assert all(c.budget.max_steps == 2 and c.measure.latency == "quick" for c in cells)
    assert all(c.measure.batch_sizes == (1,) for c in cells)


def test_unknown_top_level_key(fast_spec):
    spec = fast_spec()
    spec["taks"] = spec.pop("tasks")
    expect_usage_error(spec, "'taks'", "Did you mean 'tasks'?")


def test_unknown_budget_and_measure_keys(fast_spec):
    expect_usage_error(fast_spec(budget={"max_step": 2}), "budget", "Did you mean 'max_steps'?")
    expect_usage_error(fast_spec(measure={"latncy": "quick"}), "measure", "Did you mean 'latency'?")


def test_unknown_task_model_method(fast_spec):
    expect_usage_error(fast_spec(tasks=["glue-rtee"]), "unknown task 'glue-rtee'", "Did you mean 'glue-rte'?")
    expect_usage_error(fast_spec(models=["bert-bas"]), "unknown model 'bert-bas'", "Did you mean 'bert-base'?")
    expect_usage_error(fast_spec(methods=["full-fft"]), "unknown method 'full-fft'", "Did you mean 'full-ft'?")
    expect_usage_error(fast_spec(methods=["full-ft -> ful-ft"]), "Did you mean 'full-ft'?")


def test_unknown_method_option_suggests(fast_spec):
    expect_usage_error(fast_spec(methods=["full-ft(lrr=1e-4)"]), "'lrr'", "Did you mean 'lr'?")
    expect_usage_error(fast_spec(methods=[{"name": "full-ft", "warmup": 0.1}]), "Did you mean 'warmup_ratio'?")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"seeds": "x"}, "'seeds'"),
        ({"seeds": [0, 1.5]}, "'seeds'"),
        ({"budget": {"epochs": "many"}}, "'epochs'"),
        ({"budget": {"max_steps": True}}, "'max_steps'"),
        ({"measure": {"latency": "fast"}}, "'latency'"),
        ({"device": "tpu"}, "'device'"),
        ({"methods": ["full-ft(lr=fast)"]}, "'lr'"),
        ({"tasks": []}, "no task given"),
        ({"methods": []}, "no method given"),
    ],
)
def test_wrong_types_and_values_are_usage_errors(fast_spec, override, fragment):
    expect_usage_error(fast_spec(**override), fragment)


@pytest.mark.parametrize(
    "override",
    [{"budget": {"batch_size": 0}}, {"budget": {"grad_accum": 0}}, {"budget": {"max_steps": 0}},
     {"budget": {"train_limit": 0}}, {"measure": {"threads": 0}}],
    ids=["batch_size", "grad_accum", "max_steps", "train_limit", "threads"],
)
def test_out_of_range_values_are_usage_errors(fast_spec, override):
    expect_usage_error(fast_spec(**override), next(iter(next(iter(override.values())))))


def test_malformed_method_items(fast_spec):
    expect_usage_error(fast_spec(methods=["full-ft(lr)"]), "expected key=value")
    expect_usage_error(fast_spec(methods=["full ft"]), "malformed method")
    expect_usage_error(fast_spec(methods=[{"chain": ["full-ft"], "lr": 1}]), "chain")
    expect_usage_error(fast_spec(methods=[42]), "malformed method item")


def test_scalar_where_a_list_is_expected_is_a_list_of_one(fast_spec):
    cells = expand(fast_spec(tasks="glue-rte", seeds=7))
    assert [(c.task, c.seed) for c in cells] == [("glue-rte", 7)]


# --- method chains ----------------------------------------------------------


def test_chain_string_parsing():
    stages = parse_chain("full-ft(lr=3e-4) -> full-ft")
    assert [s.method for s in stages] == ["full-ft", "full-ft"]
    first, second = (s.options_dict() for s in stages)
    assert first["lr"] == pytest.approx(3e-4) and isinstance(first["lr"], float)
    assert second["lr"] == full_ft_default_lr()
    assert set(first) == set(second) == {f.name for f in dataclasses.fields(METHODS.get("full-ft").meta.options)}


def test_chain_forms_are_equivalent():
    text = parse_chain("full-ft(lr=3e-4, warmup_ratio=0.1) -> full-ft")
    mapping = parse_chain({"chain": [{"name": "full-ft", "lr": 3e-4, "warmup-ratio": 0.1}, "full-ft"]})
    assert text == mapping


def test_defaults_are_normalised_into_the_same_key(fast_spec):
    lr = full_ft_default_lr()
    plain, explicit, other = (
        expand(fast_spec(methods=[m]))[0]
        for m in ("full-ft", f"full-ft(lr={lr!r})", "full-ft(lr=0.123)")
    )
    assert plain == explicit and plain.key(VERSIONS) == explicit.key(VERSIONS)
    assert plain.chain_label == explicit.chain_label == "full-ft"
    assert other.key(VERSIONS) != plain.key(VERSIONS)
    assert other.chain_label == "full-ft(lr=0.123)"


def test_key_changes_with_seed_budget_options_and_versions(fast_spec):
    base = expand(fast_spec())[0]
    key = base.key(VERSIONS)
    variants = [
        dataclasses.replace(base, seed=1),
        dataclasses.replace(base, budget=dataclasses.replace(base.budget, max_steps=3)),
        dataclasses.replace(base, budget=dataclasses.replace(base.budget, train_limit=100)),
        expand(fast_spec(methods=["full-ft(weight_decay=0.0)"]))[0],
        dataclasses.replace(base, task="glue-sst2"),
        dataclasses.replace(base, measure=dataclasses.replace(base.measure, seq_len=32)),
    ]
    keys = [v.key(VERSIONS) for v in variants]
    assert key not in keys and len(set(keys)) == len(keys)
    assert base.key(dict(VERSIONS, torch="9.9")) != key
    # identity ignores package versions: compare matches the same experiment across them
    assert base.identity() == dataclasses.replace(base).identity()
    assert variants[0].identity() != base.identity()
    # and the key is stable: same config, same key
    assert expand(fast_spec())[0].key(VERSIONS) == key


def test_cell_round_trips_through_json(fast_spec):
    for cell in expand(fast_spec(methods=["full-ft(lr=3e-4) -> full-ft"], seeds=[5])) + expand(
        fast_spec(methods=[], arch_only=True)
    ):
        again = Cell.from_dict(json.loads(json.dumps(cell.to_dict())))
        assert again == cell
        assert again.key(VERSIONS) == cell.key(VERSIONS)
        assert again.slug() == cell.slug()
        assert hash(again) == hash(cell)


def test_cell_slug_and_chain_label():
    cell = Cell(task="glue-rte", chain=(Stage("full-ft"), Stage("full-ft")), model="org/name", seed=2,
                budget=Budget(), measure=MeasureSettings())
    assert cell.slug() == "glue-rte__org_name__full-ft+full-ft__s2"
    assert cell.chain_label == "full-ft -> full-ft"
