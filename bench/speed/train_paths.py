"""One training run along one path, timed step by step; run in a process of its own.

Paths (all fp32 unless a precision is given, AdamW with the same rate, warm-up, decay, weight
decay and clipping, one epoch over the same tokenised examples, the same batch size):
- `harness`: bench/train.py, as a full-ft cell runs it (deterministic algorithms on, as cells are);
- `trainer-grouped`: HF Trainer with dynamic padding and train_sampling_strategy="group_by_length";
- `trainer-padded`: HF Trainer as run_glue runs it by default: every example padded to the
  maximum length, random order.

Each step's end is timestamped, so the report is the time per step after the first (compile,
allocator and cache warm-up land in the first) and the median step; the same for every path.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

PATHS = ("harness", "trainer-grouped", "trainer-padded")


@dataclass(frozen=True)
class PathRun:
    path: str
    precision: str
    steps: int
    step_ends_s: list  # seconds since the first step began, one per optimiser step
    s_per_step: float  # after the first step: (last end - first end) / (steps - 1)
    median_step_s: float
    final_loss: float
    padded_tokens: int | None  # tokens the model saw, padding included (None in runs made before Trainer's were counted)


@dataclass(frozen=True)
class Setup:
    task: str
    model: str
    data_dir: str | None
    train_limit: int
    batch_size: int
    max_seq_len: int
    threads: int | None
    seed: int = 0


def load(setup: Setup):
    """The model with its head, its tokenizer and the training features, as a cell prepares them."""
    import transformers

    from bench.inference import load_examples
    from bench.measure.threads import set_threads
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import TASKS
    from bench.runner import training_features
    from bench.task import data_dir_from_env

    set_threads(setup.threads)
    transformers.set_seed(setup.seed)  # the task head's random init is the same on every path and run
    task = TASKS.get(setup.task).obj
    examples = load_examples(task, task.train_split, data_dir_from_env(setup.data_dir), setup.train_limit, shuffle=True)
    source = resolve(setup.model)
    tokenizer = load_tokenizer(source)
    model = load_model(source, task, tokenizer=tokenizer)
    return model, tokenizer, training_features(task, model, tokenizer, examples, setup.max_seq_len)


def run_path(path: str, setup: Setup, precision: str = "fp32") -> PathRun:
    model, tokenizer, features = load(setup)
    if path == "harness":
        return _harness(model, tokenizer, features, setup, precision)
    if path in ("trainer-grouped", "trainer-padded"):
        return _trainer(model, tokenizer, features, setup, precision, grouped=path == "trainer-grouped")
    raise ValueError(f"unknown path {path!r}: one of {', '.join(PATHS)}")


def _summary(path: str, precision: str, begin: float, ends: list[float], loss: float, tokens) -> PathRun:
    import statistics

    ends = [end - begin for end in ends]
    steps = [b - a for a, b in zip([0.0, *ends], ends, strict=False)]
    return PathRun(path=path, precision=precision, steps=len(ends), step_ends_s=ends,
                   s_per_step=(ends[-1] - ends[0]) / max(1, len(ends) - 1), median_step_s=statistics.median(steps[1:]),
                   final_loss=loss, padded_tokens=tokens)


def _harness(model, tokenizer, features, setup: Setup, precision: str) -> PathRun:
    from bench.cell import Budget
    from bench.data import length_grouped_batches
    from bench.runner import seed_everything
    from bench.train import train
    from methods.full_ft import FullFTOptions

    seed_everything(setup.seed, deterministic=True)  # as every accuracy cell runs
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    budget = Budget(train_limit=setup.train_limit, epochs=1, batch_size=setup.batch_size, max_seq_len=setup.max_seq_len)
    lengths = [len(f["input_ids"]) for f in features]
    padded = sum(len(b) * max(lengths[i] for i in b) for b in length_grouped_batches(lengths, setup.batch_size, setup.seed))
    ends: list[float] = []
    begin = time.perf_counter()
    stats = train(model, tokenizer, features, budget=budget, options=FullFTOptions(), seed=setup.seed, device="cpu",
                  on_step=lambda step, steps, loss: ends.append(time.perf_counter()), precision=precision)
    return _summary("harness", precision, begin, ends, stats.final_loss, padded)


def _trainer(model, tokenizer, features, setup: Setup, precision: str, grouped: bool) -> PathRun:
    import datasets
    import transformers

    from methods.full_ft import FullFTOptions

    options = FullFTOptions()
    if grouped:
        rows, collator = features, transformers.DataCollatorWithPadding(tokenizer)
    else:  # run_glue's default: pad_to_max_length, default_data_collator
        rows = [_pad(f, setup.max_seq_len, tokenizer.pad_token_id) for f in features]
        collator = transformers.default_data_collator
    ends: list[float] = []
    losses: list[float] = []
    tokens = {"padded": 0}

    def counting_collator(batch_rows):  # the tokens each batch feeds the model, padding included
        batch = collator(batch_rows)
        tokens["padded"] += int(batch["input_ids"].numel())
        return batch

    class StepClock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    output = tempfile.mkdtemp(prefix="bench-speed-trainer-")  # nothing is saved, but Trainer wants a folder
    arguments = transformers.TrainingArguments(
        output_dir=output, per_device_train_batch_size=setup.batch_size, num_train_epochs=1,
        learning_rate=options.lr, weight_decay=options.weight_decay, warmup_steps=options.warmup_ratio,
        lr_scheduler_type="linear", max_grad_norm=options.max_grad_norm, seed=setup.seed, use_cpu=True,
        bf16=precision == "bf16", train_sampling_strategy="group_by_length" if grouped else "random",
        save_strategy="no", eval_strategy="no", logging_strategy="steps", logging_steps=10**9, report_to=[],
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=arguments, train_dataset=datasets.Dataset.from_list(rows),
                                   data_collator=counting_collator, callbacks=[StepClock()])
    begin = time.perf_counter()
    try:
        result = trainer.train()
    finally:
        shutil.rmtree(output, ignore_errors=True)
    return _summary(f"trainer-{'grouped' if grouped else 'padded'}", precision, begin, ends, result.training_loss,
                    tokens["padded"])


def _pad(feature: dict, length: int, pad_id: int) -> dict:
    missing = length - len(feature["input_ids"])
    padded = {"input_ids": feature["input_ids"] + [pad_id] * missing,
              "attention_mask": [1] * len(feature["input_ids"]) + [0] * missing, "labels": feature["labels"]}
    if "token_type_ids" in feature:
        padded["token_type_ids"] = feature["token_type_ids"] + [0] * missing
    return padded


def main(argv=None) -> int:
    """`python -m bench.speed.train_paths PATH PRECISION SETUP_JSON`: one run, its JSON on stdout's last line."""
    path, precision, setup = (argv or sys.argv[1:])[:3]
    run = run_path(path, Setup(**json.loads(setup)), precision)
    print(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
