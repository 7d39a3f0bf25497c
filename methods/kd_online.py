"""kd-online: teacher and student trained together from the start, each learning from the
other's predictions as well as the labels (deep mutual learning). No fine-tuned teacher and
no cache: the peer's forward passes are part of every step, and the record counts them.
Zhang et al. 2018, Deep Mutual Learning."""

from bench.distill.options import OnlineOptions
from bench.registry import METHODS


@METHODS.register("kd-online", options=OnlineOptions, family="distillation", stage="train",
                  paper="Zhang et al. 2018, Deep Mutual Learning", label="online (mutual learning)", order=150)
def kd_online(model, options: OnlineOptions, ctx):
    import copy

    from bench.distill.losses import soft_objective
    from bench.distill.modules import MutualPair
    from bench.distill.offline import prepare_student
    from bench.distill.students import check_same_tokenizer
    from bench.modeling.load import load_model, resolve

    # The peer is the cell's model as loaded (pretrained, not fine-tuned), copied before a
    # truncated student takes its layers; or another model the options name.
    if options.teacher is None:
        peer = copy.deepcopy(model)
    else:
        if ctx.tokenizer is not None:
            check_same_tokenizer(resolve(options.teacher), ctx.tokenizer, role="teacher")
        peer = load_model(resolve(options.teacher), ctx.task, tokenizer=ctx.tokenizer)
    student = prepare_student(model, options, ctx)
    if ctx.cell.arch_only:  # no training: the student's parameters, FLOPs and latency only
        return ctx.train(student, options.for_training())
    pair = MutualPair(student, peer)
    kind, counts = ctx.task.kind, {"passes": 0, "examples": 0}

    def mutual_loss(trained, batch):
        labels = batch.pop("labels")
        mine = trained.student(**batch).logits
        theirs = trained.teacher(**batch).logits
        counts["passes"] += 1
        counts["examples"] += len(labels)
        settings = dict(temperature=options.temperature, alpha=options.alpha)
        # Each network's target is the other's prediction, held fixed for its own update.
        return (soft_objective(mine, [theirs.detach()], labels, kind, **settings)
                + soft_objective(theirs, [mine.detach()], labels, kind, **settings))

    ctx.train(pair, options.for_training(), mutual_loss)
    ctx.records["distillation"] = {
        "mode": "online",
        "teachers": [{"model": options.teacher or ctx.cell.model, "pretrained_only": True}],
        "teacher_forward_passes": counts["passes"],
        "teacher_forward_passes_in_training": counts["passes"],
        "teacher_forward_examples": counts["examples"],
        "student_from_cache": ctx.records["training"][-1]["from_cache"],
    }
    return student
