"""kd-multi-student: one fine-tuned teacher, N students trained together in one loop. Each student
learns from the gold labels, the teacher's soft targets (kd-soft's loss) and the other students
(KL to the mean of their softened distributions, as in mutual learning), and the cell deploys
the students' ensemble: the mean of their class probabilities.

What is measured is what is deployed: the cell's metrics are the ensemble's, and its
parameters, FLOPs, latency and size count all N students (the ensemble runs each of them).
The stage's "ensemble" section adds each student's own dev metrics and parameter count, so
the best single student can be compared with the ensemble it belongs to; the "distillation"
section holds the KD cost as for kd-soft (the teacher's outputs are cached per teacher and
training text, so the students train with no teacher forward pass).
Chang et al. 2022, One-Teacher and Multiple-Student Knowledge Distillation on Sentiment Classification."""

from dataclasses import dataclass

from bench.distill.options import SoftOptions
from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option


@dataclass(frozen=True)
class MultiStudentOptions(SoftOptions):
    # One student is kd-soft; the ensemble and the peer term need at least two.
    students: int = option(2, "students trained together from one teacher; the cell deploys their ensemble",
                           at_least=2)
    # By default the other students weigh as much as the teacher (alpha); 0 trains N
    # independent kd-soft students, which isolates what learning from each other adds.
    peer_weight: float = option(0.5, "weight of the KL to the other students' mean softened distribution "
                                "(MSE to their mean logits with soft_loss=mse); 0: independent students", at_least=0)


def build_students(model, options: MultiStudentOptions, ctx) -> list:
    """Student 0 is the stage's model made into kd-soft's student; student i starts from the cell's
    model loaded at seed + i, so the students differ in their task head's init (a BiLSTM in all
    its weights), as independently seeded members of an ensemble do."""
    import transformers

    from bench.distill.offline import prepare_student
    from bench.modeling.load import load_model, resolve

    students = [prepare_student(model, options, ctx)]
    for i in range(1, options.students):
        transformers.set_seed(ctx.cell.seed + i)
        fresh = load_model(resolve(ctx.cell.model), ctx.task, tokenizer=ctx.tokenizer)
        students.append(prepare_student(fresh, options, ctx))
    return students


def multi_student_objective(options: MultiStudentOptions, kind: str):
    """The sum of the students' losses: each one's gradient is the one it would get on its own."""
    from bench.distill.losses import distillation_term, soft_objective
    from bench.distill.offline import Objective

    soft = dict(temperature=options.temperature, soft_loss=options.soft_loss)

    def objective(ensemble, inputs, labels, targets):
        teacher = targets[0]["logits"]
        logits = [student(**inputs).logits for student in ensemble.students]
        total = 0.0
        for i, mine in enumerate(logits):
            # The peers' prediction is a target held fixed for this student's update (as in kd-online).
            peers = [theirs.detach() for j, theirs in enumerate(logits) if j != i]
            total = total + soft_objective(mine, [teacher], labels, kind, alpha=options.alpha, **soft)
            total = total + options.peer_weight * distillation_term(mine, peers, kind, **soft)
        return total

    return Objective(outputs=["logits"], loss=objective)


def ensemble_section(ensemble, options: MultiStudentOptions, ctx) -> dict:
    """Each student's dev metrics and parameters beside the ensemble's, scored as the runner scores a cell."""
    from bench.inference import score_splits
    from bench.runtime.artifact import TorchArtifact

    section = {"students": options.students, "deployed": "ensemble",
               "combination": "mean of the students' class probabilities", "peer_weight": options.peer_weight,
               "student_parameters": [TorchArtifact(s).parameters().total for s in ensemble.students]}
    if ctx.cell.arch_only:  # nothing trained, nothing to score
        return section

    def metrics(module) -> dict:
        return score_splits(TorchArtifact(module), ctx.cell, ctx.task, ctx.tokenizer, ctx.data_dir)[0]

    ensemble.eval()
    section.update(student_metrics=[metrics(s) for s in ensemble.students], ensemble_metrics=metrics(ensemble))
    return section


@METHODS.register("kd-multi-student", options=MultiStudentOptions, family="distillation", stage="train",
                  paper="Chang et al. 2022, One-Teacher and Multiple-Student Knowledge Distillation on Sentiment "
                        "Classification", label="one teacher, several students (ensemble)", order=145)
def kd_multi_student(model, options: MultiStudentOptions, ctx):
    from bench.distill.modules import StudentEnsemble
    from bench.distill.offline import distil
    from bench.distill.teachers import the_teacher

    if ctx.task.kind != "classification":
        raise UsageError(f"kd-multi-student averages class probabilities; {ctx.task.name} is a {ctx.task.kind} "
                         "task: use kd-soft")
    if ctx.stage_index:
        # Students after the first are loaded afresh from the cell's model: an earlier stage's work would be lost.
        raise UsageError("kd-multi-student builds its students from the cell's model: put it first in the chain")
    ensemble = StudentEnsemble(build_students(model, options, ctx))
    distil(ensemble, options, ctx, the_teacher(ctx.cell, options), multi_student_objective(options, ctx.task.kind))
    ctx.records["ensemble"] = ensemble_section(ensemble, options, ctx)
    return ensemble
