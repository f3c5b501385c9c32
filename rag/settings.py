"""The one settings object. Every value can be set with an environment variable ``RAGQA_<NAME>`` or a ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_models_dir() -> Path:
    return Path.home() / ".cache" / "ragqa" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGQA_", env_file=".env", extra="ignore")

    # --- where things live
    data_dir: Path = Field(Path("data"), description="Index directory (catalog, FAISS file, manifest).")
    models_dir: Path = Field(default_factory=_default_models_dir, description="Per-machine model cache.")
    progress: bool = Field(False, description="Show progress bars even when stderr is not a terminal.")

    # --- index backend (see README "Scaling out")
    store: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="Index backend: faiss (SQLite + FAISS in data_dir, one machine) or milvus (shared by replicas).",
        examples=["faiss", "milvus"],
    )
    milvus_uri: str = Field(
        "",
        description="Milvus to use when store=milvus: a file path ending in .db (Milvus Lite, one process) or "
        "http://host:19530 (a Milvus server, shared). Empty: <data_dir>/milvus.db.",
        examples=["http://127.0.0.1:19530", "data/milvus.db"],
        max_length=2048,
    )
    milvus_token: SecretStr = Field(
        SecretStr(""), description="Token for an authenticated Milvus (user:password or an API key); empty: none."
    )
    milvus_collection_prefix: str = Field(
        "ragqa_",
        description="Prefix of the Milvus collection names (<prefix>chunks, <prefix>documents); several indexes "
        "can share one Milvus with different prefixes.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        examples=["ragqa_"],
    )

    # --- models: an offline package name from rag.models.sources, a hub model id, or a local folder
    embedder: str = "bge-small-en-v1.5"
    reranker: str = "ms-marco-MiniLM-L-12-v2"
    generator: str = "qwen2.5-coder-0.5b-instruct"
    device: str = Field("cpu", description="torch device for the generator: cpu or cuda.")
    torch_threads: int = Field(0, description="0 = let torch decide.")

    # --- chunking
    chunk_max_words: int = 60
    chunk_overlap_sentences: int = 1

    # --- retrieval
    dense_candidates: int = 30
    bm25_candidates: int = 30
    dense_weight: float = 1.0
    bm25_weight: float = 0.7
    rrf_k: int = 60
    rerank_candidates: int = 6
    rerank: bool = True
    rerank_title_prefix: bool = False
    rerank_max_tokens: int = 128

    # --- answering
    answer_passages: int = 5
    evidence_max_sentences: int = 4
    evidence_max_words: int = 110
    evidence_passage_weight: float = 0.6
    evidence_title_context: bool = True
    max_new_tokens: int = 64
    quantize_int8: bool = True
    refuse_below: float = Field(-2.0, description="Refuse when the best evidence score is below this.")
    support_threshold: float = Field(0.6, description="Share of a sentence's content words found in its evidence.")
    extractive_sentences: int = 2
    extractive_margin: float = 4.0
    min_new_terms: int = 2
    min_sentence_terms: int = 3
    anchor_documents: int = 1

    # --- HTTP service
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    read_requires_key: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    max_question_chars: int = 1000
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 10_000_000
    max_k: int = 50
    max_history: int = 20
    generation_workers: int = 1
    generation_queue: int = 8
    rate_limit_per_minute: int = 120

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
