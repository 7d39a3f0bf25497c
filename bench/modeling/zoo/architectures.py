"""Architecture-only models (random init from a config) for the papers' parameter, FLOPs and
latency columns; their values do not depend on weights. Configs follow the TinyBERT paper."""

from bench.modeling.source import ModelSource
from bench.registry import MODELS


def _bert(layers: int, hidden: int, intermediate: int, heads: int) -> dict:
    return dict(
        num_hidden_layers=layers,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_attention_heads=heads,
        vocab_size=30522,
        max_position_embeddings=512,
    )


ARCHITECTURES = {
    "bert-base": (_bert(12, 768, 3072, 12), "bert", "Devlin et al. 2019 (BERT-base, 12/768/3072)"),
    "bert-large": (_bert(24, 1024, 4096, 16), "bert", "Devlin et al. 2019 (BERT-large, 24/1024/4096)"),
    "roberta-base": (
        dict(_bert(12, 768, 3072, 12), vocab_size=50265, max_position_embeddings=514,
             type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2),
        "roberta",
        "Liu et al. 2019 (RoBERTa-base)",
    ),
    "tinybert4": (_bert(4, 312, 1200, 12), "bert", "Jiao et al. 2020 (TinyBERT4 / BERT-tiny, 4/312/1200)"),
    "bert-small": (_bert(4, 512, 2048, 8), "bert", "Turc et al. 2019 (BERT-small, 4/512/2048)"),
    "bert-4l-768": (_bert(4, 768, 3072, 12), "bert", "Sun et al. 2019 / Sanh et al. 2019 (BERT4-PKD, DistilBERT4)"),
}

for _name, (_config, _type, _paper) in ARCHITECTURES.items():
    MODELS.register(
        _name,
        ModelSource(
            name=_name,
            config=_config,
            config_type=_type,
            tokenizer_from="minilm-l6" if _type == "bert" else None,
            pretrained=False,
        ),
        family=_type,
        kind="architecture",
        paper=_paper,
    )
