"""Translation models trained from scratch (random init from a config, a subword vocabulary
trained on the cell's own training text): the seed's LSTMs and a Marian Transformer pair.

Sizes: Kim and Rush 2016 (LSTM 4x1000 teacher, 2x500 student, attention); Marian configs
(teacher 6 layers x 512, student 3 x 256). The small pair keeps the 2:1 ratio of layers
and width at a size a 2-core CPU trains in minutes (results/seq-kd states it).
"""

from bench.modeling.source import ModelSource
from bench.registry import MODELS

SUBWORD_VOCAB = 8000  # joint source+target BPE, as measured for the budget in the MT issue


def _marian(layers: int, width: int, heads: int) -> dict:
    return dict(encoder_layers=layers, decoder_layers=layers, d_model=width, encoder_attention_heads=heads,
                decoder_attention_heads=heads, encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width,
                max_position_embeddings=256, dropout=0.1, scale_embedding=True,
                share_encoder_decoder_embeddings=True, tie_word_embeddings=True)


SEQ2SEQ = {
    "lstm-4x1000": ("lstm-seq2seq", dict(num_layers=4, hidden_size=1000, embedding_size=1000),
                    "Kim and Rush 2016, teacher (LSTM 4x1000, attention)"),
    "lstm-2x500": ("lstm-seq2seq", dict(num_layers=2, hidden_size=500, embedding_size=500),
                   "Kim and Rush 2016, student (LSTM 2x500, attention)"),
    "marian-6x512": ("marian", _marian(6, 512, 8), "Transformer teacher (Marian config, 6 x 512)"),
    "marian-3x256": ("marian", _marian(3, 256, 4), "Transformer student (Marian config, 3 x 256)"),
    "marian-4x256": ("marian", _marian(4, 256, 4), "small-scale Transformer teacher (4 x 256)"),
    "marian-2x128": ("marian", _marian(2, 128, 4), "small-scale Transformer student (2 x 128)"),
}

for _name, (_type, _config, _paper) in SEQ2SEQ.items():
    MODELS.register(
        _name,
        ModelSource(name=_name, arch="encoder-decoder", config=_config, config_type=_type,
                    subword_vocab=SUBWORD_VOCAB, pretrained=False),
        family=_type,
        kind="from scratch",
        paper=_paper,
    )
