"""Teachers: the fine-tuned model of a (model, task, budget, seed), trained once and cached.

A teacher's cache key is the trained-prefix key of the `full-ft` cell with that model,
task, budget and seed (bench/storage/cache.py), so a `full-ft` cell in the same matrix (the
table's teacher row) and every KD cell share one training, whichever runs first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

TEACHER_METHOD = "full-ft"


@dataclass(frozen=True)
class TeacherRef:
    model: str
    seed: int
    epochs: float | None = None  # None: the cell's budget
    lr: float | None = None  # None: full-ft's default

    def cell(self, student_cell):
        """The full-ft cell that trains this teacher: same task, budget and device as the student's.

        Its inputs are the task's data and the teacher's model files, as `cell_inputs` gives
        that full-ft cell in a matrix, so the two share the teacher's cache entry.
        """
        from bench.spec import parse_chain
        from bench.storage.fingerprint import teacher_inputs

        budget = student_cell.budget
        if self.epochs is not None:
            budget = dataclasses.replace(budget, epochs=self.epochs)
        method = {"name": TEACHER_METHOD} if self.lr is None else {"name": TEACHER_METHOD, "lr": self.lr}
        return dataclasses.replace(student_cell, chain=parse_chain(method), model=self.model,
                                   seed=self.seed, budget=budget, arch_only=False,
                                   inputs=teacher_inputs(student_cell.inputs, self.model))

    def key(self, student_cell) -> str:
        from bench.cell import result_versions
        from bench.storage.cache import prefix_key

        return prefix_key(self.cell(student_cell), 0, result_versions())


def the_teacher(cell, options) -> list[TeacherRef]:
    """The one teacher the options of kd-soft, kd-hard and kd-feature name (defaults: the cell's)."""
    seed = cell.seed if options.teacher_seed is None else options.teacher_seed
    return [TeacherRef(options.teacher or cell.model, seed, options.teacher_epochs, options.teacher_lr)]


def teacher_ensemble(cell, models, seeds, epochs=None, lr=None) -> list[TeacherRef]:
    """Every (model, seed) pair; no models means the cell's model."""
    return [TeacherRef(model, seed, epochs, lr) for model in (models or (cell.model,)) for seed in seeds]


def teacher_shape(ref: TeacherRef) -> dict:
    """Layers, width and heads of a teacher, read from its config without loading weights."""
    from bench.modeling.load import resolve

    source = resolve(ref.model)
    if source.architecture_only:
        config = source.config
    else:
        import transformers

        from bench.modeling.load import from_pretrained

        config = from_pretrained(transformers.AutoConfig, source.location()).to_dict()
    return {"layers": config["num_hidden_layers"], "hidden": config["hidden_size"],
            "heads": config["num_attention_heads"]}


def fine_tuned_teacher(ref: TeacherRef, ctx):
    """The teacher in eval mode on the cell's device, and its cost for the record.

    Trained here with the shared loop when no cell trained it before; seeded exactly as the
    runner seeds a full-ft cell, so both paths give the same teacher.
    """
    import transformers

    from bench.distill.students import check_same_tokenizer
    from bench.modeling.load import load_model, resolve
    from bench.registry import METHODS
    from bench.storage.cache import load_trained, store_trained
    from bench.train import train

    source = resolve(ref.model)
    if ref.model != ctx.cell.model:
        check_same_tokenizer(source, ctx.tokenizer, role="teacher")
    key = ref.key(ctx.cell)
    transformers.set_seed(ref.seed)  # the task head's init, as in the teacher's own cell
    teacher = load_model(source, ctx.task, tokenizer=ctx.tokenizer)
    stats = load_trained(teacher, key)
    trained_here = stats is None
    if trained_here:
        from bench.modeling.regression_head import start_at_label_mean

        start_at_label_mean(teacher, ctx.task, ctx.train_features)  # as the runner starts a full-ft cell
        teacher_cell = ref.cell(ctx.cell)
        options = METHODS.get(TEACHER_METHOD).meta.options(**teacher_cell.chain[0].options_dict())
        stats = train(teacher, ctx.tokenizer, ctx.train_features, budget=teacher_cell.budget, options=options,
                      seed=ref.seed, device=ctx.device, on_step=ctx.on_step,
                      precision=teacher_cell.precision).to_dict()
        store_trained(teacher, key, stats)
    teacher.to(ctx.device).eval()
    info = {"model": ref.model, "seed": ref.seed, "key": key, "trained_in_this_cell": trained_here,
            "train_wall_s": stats["wall_s"], "train_steps": stats["steps"], "train_examples": stats["examples"]}
    return teacher, info
