"""kd-feature: TinyBERT's intermediate-layer distillation (hidden-state MSE through a learned
projection where widths differ, attention-map MSE, uniform layer mapping) added to kd-soft.
Jiao et al. 2020, TinyBERT: Distilling BERT for Natural Language Understanding."""

from bench.distill.options import FeatureOptions
from bench.registry import METHODS


def feature_objective(student, options: FeatureOptions, teacher_shape: dict, kind: str):
    """Soft targets plus the summed hidden and attention MSE of the mapped layers."""
    from bench.distill.losses import attention_mse, hidden_mse, layer_map, soft_objective
    from bench.distill.modules import ProjectedStudent
    from bench.distill.offline import Objective

    mapping = layer_map(student.config.num_hidden_layers, teacher_shape["layers"])
    hidden_pairs = list(zip(range(len(mapping) + 1), [0, *mapping], strict=False))  # 0: the embedding output
    attention_pairs = list(zip(range(1, len(mapping) + 1), mapping, strict=False))
    module = ProjectedStudent(student, student.config.hidden_size, teacher_shape["hidden"])

    def objective(trained, inputs, labels, targets):
        (target,) = targets
        out = trained.student(**inputs, output_hidden_states=True, output_attentions=True)
        mask = inputs["attention_mask"]
        loss = soft_objective(out.logits, [target["logits"]], labels, kind, temperature=options.temperature,
                              alpha=options.alpha, soft_loss=options.soft_loss)
        for mine, theirs in hidden_pairs:
            projected = trained.projection(out.hidden_states[mine])
            loss = loss + options.hidden_weight * hidden_mse(projected, target[f"hidden-{theirs}"], mask)
        for mine, theirs in attention_pairs:
            loss = loss + options.attention_weight * attention_mse(out.attentions[mine - 1], target[f"attention-{theirs}"], mask)
        return loss

    outputs = ["logits", *(f"hidden-{t}" for _, t in hidden_pairs), *(f"attention-{t}" for _, t in attention_pairs)]
    return Objective(outputs=outputs, loss=objective, module=module, attentions=True)


@METHODS.register("kd-feature", options=FeatureOptions, family="distillation", stage="train",
                  paper="Jiao et al. 2020, TinyBERT: Distilling BERT for Natural Language Understanding", label="soft targets + hidden/attention (TinyBERT)", order=130)
def kd_feature(model, options: FeatureOptions, ctx):
    from bench.distill.offline import distil, prepare_student
    from bench.distill.teachers import teacher_shape, the_teacher

    student = prepare_student(model, options, ctx)
    refs = the_teacher(ctx.cell, options)
    objective = feature_objective(student, options, teacher_shape(refs[0]), ctx.task.kind)
    return distil(student, options, ctx, refs, objective)
