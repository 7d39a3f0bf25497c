"""The BiLSTM student of Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks": embeddings -> BiLSTM -> max-pool -> MLP.

It follows the Hugging Face calling convention (input_ids, attention_mask, labels -> an
output with .logits and .loss) and has a `config.vocab_size`, so the harness predicts,
times, counts and saves it like any transformer. Pairs are fed as one [SEP]-joined
sequence (the paper uses a siamese encoder for pairs; one sequence keeps one module).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BiLSTMConfig:
    vocab_size: int
    num_labels: int
    embedding_size: int = 300
    hidden_size: int = 300  # per direction, as in the paper
    classifier_size: int = 400
    dropout: float = 0.1
    pad_token_id: int = 0
    problem_type: str = "single_label_classification"  # or "regression"
    model_type: str = "bilstm"


class BiLSTMClassifier(nn.Module):
    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.embedding_size, config.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Sequential(
            nn.Linear(2 * config.hidden_size, config.classifier_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.classifier_size, config.num_labels),
        )

    def get_input_embeddings(self):
        return self.embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, **unused):
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = attention_mask.bool()
        lengths = attention_mask.sum(1).clamp_min(1).cpu()
        embedded = self.dropout(self.embeddings(input_ids))
        # Packing keeps padding out of the backward direction; it is also the code path that
        # FlopCounterMode can see (the fused unpacked CPU kernel counts as zero FLOPs).
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=input_ids.shape[1])
        pooled = output.masked_fill(~mask[..., None], float("-inf")).max(1).values
        logits = self.classifier(self.dropout(pooled))
        return SequenceClassifierOutput(loss=self._loss(logits, labels), logits=logits)

    def _loss(self, logits, labels):
        if labels is None:
            return None
        if self.config.problem_type == "regression":
            return nn.functional.mse_loss(logits[:, 0], labels.to(logits.dtype))
        return nn.functional.cross_entropy(logits, labels)


def lstm_student(model, task) -> BiLSTMClassifier:
    """A BiLSTM whose embeddings start from `model`'s word embeddings (same tokenizer, same width).

    The paper starts from word2vec; the transformer's own embeddings are the pretrained
    vectors this offline harness has, and they make tiny training budgets usable.
    """
    source = model.get_input_embeddings().weight
    config = BiLSTMConfig(
        vocab_size=source.shape[0],
        num_labels=task.num_labels,
        embedding_size=source.shape[1],
        pad_token_id=getattr(model.config, "pad_token_id", None) or 0,
        problem_type="regression" if task.kind == "regression" else "single_label_classification",
    )
    student = BiLSTMClassifier(config)
    with torch.no_grad():
        student.embeddings.weight.copy_(source)
    return student
