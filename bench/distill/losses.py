"""KD losses as small pure functions of tensors, so each can be checked by hand.

Hinton et al. 2015 (soft targets, temperature, T^2 scaling); Jiao et al. 2020, TinyBERT
(hidden-state and attention MSE with a uniform layer mapping).
"""

from __future__ import annotations

IGNORE = -100  # class label of an unlabelled example (cross-entropy skips it); NaN for regression


def soften(logits, temperature: float):
    """Class probabilities at a temperature: T > 1 spreads mass onto the non-argmax classes."""
    return (logits / temperature).softmax(-1)


def soft_target_loss(student_logits, target_probs, temperature: float):
    """T^2 * KL(targets || softmax(student / T)), averaged over the batch.

    T^2 keeps the gradient scale of the soft term independent of T (Hinton et al. 2015),
    so alpha means the same thing at every temperature.
    """
    import torch.nn.functional as F

    log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_probs, target_probs, reduction="batchmean") * temperature**2


def soft_kl(student_logits, teacher_logits, temperature: float):
    """The classic KD term against one teacher's logits."""
    return soft_target_loss(student_logits, soften(teacher_logits, temperature), temperature)


def ensemble_targets(teacher_logits: list, weights, temperature: float):
    """Weighted average of several teachers' softened distributions (weights sum to one)."""
    weights = _normalised(weights, len(teacher_logits))
    return sum(w * soften(t, temperature) for w, t in zip(weights, teacher_logits, strict=False))


def ensemble_logits(teacher_logits: list, weights):
    """Weighted average of several teachers' raw outputs (for logit MSE and regression)."""
    weights = _normalised(weights, len(teacher_logits))
    return sum(w * t for w, t in zip(weights, teacher_logits, strict=False))


def logit_mse(student_logits, teacher_logits):
    """Mean squared error between raw outputs: the KD term for regression (STS-B) or by choice."""
    return ((student_logits - teacher_logits) ** 2).mean()


def hard_loss(logits, labels, kind: str):
    """The gold-label loss over the labelled examples of a batch; zero when there are none.

    Unlabelled examples carry IGNORE (classification) or NaN (regression) as their label.
    """
    import torch.nn.functional as F

    if kind == "regression":
        keep = ~labels.isnan()
        if not keep.any():
            return logits.sum() * 0.0
        return F.mse_loss(logits[:, 0][keep], labels[keep])
    if not (labels != IGNORE).any():
        return logits.sum() * 0.0  # cross_entropy would give NaN on an all-ignored batch
    return F.cross_entropy(logits, labels, ignore_index=IGNORE)


def mix(hard, distill, alpha: float):
    """alpha on the distillation term, 1 - alpha on the gold labels."""
    return alpha * distill + (1.0 - alpha) * hard


def soft_objective(student_logits, teacher_logits: list, labels, kind: str, *, temperature: float,
                   alpha: float, soft_loss: str = "kl", weights=()):
    """kd-soft's loss: the gold-label loss mixed with the (averaged) teachers' soft targets.

    Regression has no distribution to soften, so it always distils by MSE on the outputs.
    """
    distill = distillation_term(student_logits, teacher_logits, kind, temperature=temperature, soft_loss=soft_loss,
                                weights=weights)
    return mix(hard_loss(student_logits, labels, kind), distill, alpha)


def distillation_term(student_logits, teacher_logits: list, kind: str, *, temperature: float, soft_loss: str = "kl",
                      weights=()):
    """The soft part of kd-soft's loss, without the labels: KL to the (averaged) softened targets,
    or MSE on the outputs. Also the peer term of kd-multi-student (the other students as "teachers")."""
    if kind == "regression" or soft_loss == "mse":
        return logit_mse(student_logits, ensemble_logits(teacher_logits, weights))
    return soft_target_loss(student_logits, ensemble_targets(teacher_logits, weights, temperature), temperature)


def teacher_label_objective(student_logits, teacher_logits, labels, kind: str, *, alpha: float):
    """kd-hard's loss: the teacher's predicted labels (its argmax; its score for regression)."""
    predicted = teacher_logits[:, 0] if kind == "regression" else teacher_logits.argmax(-1)
    return mix(hard_loss(student_logits, labels, kind), hard_loss(student_logits, predicted, kind), alpha)


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layer (1-based) each student layer 1..M learns from: g(m) = m * N / M (TinyBERT)."""
    return [round(m * teacher_layers / student_layers) for m in range(1, student_layers + 1)]


def hidden_mse(student_hidden, teacher_hidden, mask):
    """MSE between hidden states [B, L, H] over the real (unpadded) tokens only."""
    weight = mask[..., None].to(student_hidden.dtype)
    squared = ((student_hidden - teacher_hidden) ** 2) * weight
    return squared.sum() / (weight.sum() * student_hidden.shape[-1]).clamp_min(1.0)


def attention_mse(student_attention, teacher_attention, mask):
    """MSE between attention maps [B, heads, L, L] over real query and key positions.

    Different head counts are compared head-averaged, so a student with fewer heads still
    learns where the teacher attends.
    """
    if student_attention.shape[1] != teacher_attention.shape[1]:
        student_attention = student_attention.mean(1, keepdim=True)
        teacher_attention = teacher_attention.mean(1, keepdim=True)
    real = mask.to(student_attention.dtype)
    weight = (real[:, :, None] * real[:, None, :])[:, None]  # [B, 1, L, L]
    squared = ((student_attention - teacher_attention) ** 2) * weight
    return squared.sum() / (weight.sum() * student_attention.shape[1]).clamp_min(1.0)


def _normalised(weights, count: int) -> list[float]:
    weights = list(weights) if weights else [1.0] * count
    total = sum(weights)
    return [w / total for w in weights]
