"""The one settings object. Every value can be set with an environment variable ``RAGQA_<NAME>`` or a ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
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
    embedder: str = Field(
        "bge-small-en-v1.5",
        description="The sentence embedder (dense retrieval): an offline model name, a hub id or a local folder.",
    )
    reranker: str = Field(
        "ms-marco-MiniLM-L-12-v2",
        description="The cross-encoder that reranks candidates and scores answer sentences (name, hub id or folder).",
    )
    generator: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="The local causal LM that writes answer sentences (name, hub id or folder); unused with "
        "generator_url.",
    )
    device: str = Field(
        "cpu",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description=(
            "Where the embedder, reranker and local generator run: cpu, cuda (or cuda:N), or auto (cuda when "
            "torch sees a GPU, else cpu). ONNX models use onnxruntime's CUDA provider when it is installed, "
            "else the CPU."
        ),
        examples=["auto"],
    )
    torch_threads: int = Field(0, ge=0, le=1024, description="CPU threads torch may use; 0 = let torch decide.")

    # --- remote generator (any OpenAI-compatible server); when set, the local generator is not loaded
    generator_url: str | None = Field(
        None,
        description="OpenAI-compatible base URL (e.g. http://gpu-box:8000/v1); generation streams from "
        "POST {url}/chat/completions instead of the local model.",
        examples=["http://127.0.0.1:8080/v1"],
    )
    generator_model: str | None = Field(
        None, description="Model name sent in requests to generator_url (required with it)."
    )
    generator_api_key: SecretStr | None = Field(None, description="Sent as 'Authorization: Bearer ...'.")
    generator_timeout_s: float = Field(
        60.0, ge=1.0, le=600.0, description="Seconds to wait for the remote generator's next bytes."
    )
    generator_retry_after_s: int = Field(
        5, ge=1, le=300, description="Retry-After sent with a 503 when the remote generator is unavailable."
    )

    # --- approximate nearest neighbours for big indexes (index/vectors.py)
    ann_threshold: int = Field(
        200_000,
        ge=0,
        le=1_000_000_000,
        description="Vectors at which the FAISS index turns approximate (IVF + 8-bit codes); 0 = always exact.",
    )
    ann_nprobe: int = Field(
        16, ge=1, le=65536, description="IVF cells searched per query (more: higher recall, slower)."
    )
    ann_nlist: int = Field(
        0, ge=0, le=65536, description="IVF cells; 0 = a power of two near 4·sqrt(vectors) when it is trained."
    )

    # --- chunking
    chunk_max_words: int = Field(
        60, ge=1, le=10_000, description="Most words of one chunk (chunks end at sentence ends where they can)."
    )
    chunk_overlap_sentences: int = Field(
        1, ge=0, le=100, description="Sentences a chunk repeats from the end of the one before it."
    )

    # --- retrieval
    dense_candidates: int = Field(
        30, ge=1, le=10_000, description="Chunks the vector search returns for fusion (at least k)."
    )
    bm25_candidates: int = Field(
        30, ge=1, le=10_000, description="Chunks the BM25 search returns for fusion (at least k)."
    )
    dense_weight: float = Field(
        1.0, ge=0.0, le=100.0, description="Weight of the vector ranking in reciprocal-rank fusion; 0 = BM25 only."
    )
    bm25_weight: float = Field(
        0.7, ge=0.0, le=100.0, description="Weight of the BM25 ranking in reciprocal-rank fusion; 0 = vectors only."
    )
    rrf_k: int = Field(
        60, ge=0, le=100_000, description="Reciprocal-rank fusion constant: a rank r counts 1/(rrf_k + r)."
    )
    rerank_candidates: int = Field(
        6, ge=1, le=1_000, description="Fused candidates the cross-encoder reranks (at least k)."
    )
    rerank: bool = Field(True, description="Rerank the fused candidates with the cross-encoder (false: fused order).")
    rerank_title_prefix: bool = Field(
        False, description="Show the reranker 'title. text' instead of the chunk's text alone."
    )
    rerank_max_tokens: int = Field(
        128, ge=8, le=8_192, description="Tokens of (question, passage) the cross-encoder reads; the rest is cut."
    )

    # --- answering
    answer_passages: int = Field(5, ge=1, le=100, description="Passages retrieved to answer a question.")
    evidence_max_sentences: int = Field(4, ge=1, le=100, description="Most evidence sentences shown to the generator.")
    evidence_max_words: int = Field(110, ge=1, le=10_000, description="Most words of evidence shown to the generator.")
    evidence_passage_weight: float = Field(
        0.6,
        ge=0.0,
        le=100.0,
        description="An evidence sentence scores its answer score plus this times its passage's rerank score.",
    )
    evidence_title_context: bool = Field(
        True, description="Score an evidence sentence as 'title: sentence' (the title gives it context)."
    )
    max_new_tokens: int = Field(64, ge=1, le=32_768, description="Most tokens the generator writes per answer.")
    quantize_int8: bool = Field(
        True, description="Run the local generator with int8 weights on the CPU (faster, less memory)."
    )
    refuse_below: float = Field(
        -4.0,
        description="Refuse when the cross-encoder's answer score of the most answer-bearing sentence is below this "
        "(a logit; chosen on the tuning halves of the eval sets).",
    )
    anchor_check: bool = Field(
        True, description="Also refuse when a year, code or two names the question hinges on are not in the article."
    )
    judge: str = Field(
        "qwen2.5-coder-1.5b-instruct",
        description="The answerability judge, a local causal LM asked whether the evidence states the answer "
        "(an offline model name, hub id or folder; the generator's own model is shared, not loaded twice); "
        "empty = no judge (the answer score and anchor checks only).",
    )
    judge_below: float = Field(
        0.2,
        ge=-20.0,
        le=20.0,
        description="Refuse when the judge's log P(Yes) − log P(No) is below this (the best balanced accuracy on "
        "the tune halves and eval/dev, bench/judge.py).",
    )
    judge_sentences: int = Field(
        2, ge=1, le=8, description="The judge reads this many of the most answer-bearing evidence sentences."
    )
    judge_titles: bool = Field(
        True,
        description="The judge reads those sentences under their articles' titles (the title says what a sentence "
        "like 'the catalyst for this reconsideration' is about).",
    )
    related_passages: int = Field(2, ge=0, le=10, description="With a refusal, quote this many related passages.")
    support_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="A generated sentence is kept when at least this share of its content words is in its evidence.",
    )
    extractive_sentences: int = Field(
        3, ge=1, le=6, description="At most this many quoted sentences: the lead and answer-bearing support."
    )
    extractive_margin: float = Field(
        10.0,
        ge=0,
        description="Support quotes must score within this of the lead's answer score (chosen on the tune halves).",
    )
    min_new_terms: int = Field(
        2, ge=0, le=100, description="A sentence must add this many content words not already shown, or it is dropped."
    )
    min_sentence_terms: int = Field(
        3,
        ge=0,
        le=100,
        description="A generated sentence with fewer content words than this is dropped (too few to verify).",
    )

    # --- HTTP service
    host: str = Field("127.0.0.1", description="Address `ragqa serve` listens on (`--host`); 127.0.0.1 = this machine.")
    port: int = Field(8000, ge=0, le=65_535, description="Port `ragqa serve` listens on (`--port`).")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="API keys (comma-separated) for `Authorization: Bearer KEY`; writes need one, reads too with "
        "read_requires_key. `KEY:c1+c2` scopes a key to collections, `KEY:read:*` to reads (see README).",
    )
    read_requires_key: bool = Field(False, description="Reads (ask, search, documents) need an API key too.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (comma-separated) that may call every route cross-origin, e.g. "
        "`https://admin.example`; empty = same origin only. `*` allows any site to read the whole corpus.",
    )
    max_question_chars: int = Field(
        1000, ge=1, le=1_000_000, description="Longest question (characters) over HTTP; longer: 422."
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1, le=2**40, description="Largest request body (bytes) other than an upload; larger: 413."
    )
    max_upload_bytes: int = Field(
        10_000_000,
        ge=1,
        le=2**40,
        description="Largest document sent to POST /v1/documents (bytes), checked while the body arrives; larger: "
        "413. Every document file is also bounded by max_document_bytes.",
    )
    max_k: int = Field(50, ge=1, le=10_000, description="Largest k (passages) a request may ask for; larger: 422.")
    max_history: int = Field(20, ge=0, le=10_000, description="Most earlier turns a request may send; more: 422.")
    generation_workers: int = Field(
        1, ge=1, le=256, description="Answers generated at the same time (threads, each running the generator)."
    )
    generation_queue: int = Field(
        8, ge=0, le=100_000, description="Answers that may wait for a worker; beyond: 503 + Retry-After."
    )
    rate_limit_per_minute: int = Field(
        120, ge=0, le=10_000_000, description="Requests per minute per client address on /v1/*; 0 = no limit."
    )
    demo_collection: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The collection the demo page at / lists and its widget answers from (`ragqa serve --collection`).",
    )
    sync_debounce_ms: int = Field(
        1600, ge=50, le=60_000, description="`ragqa sync --watch`: wait for this long without changes before syncing."
    )
    sync_settle_s: float = Field(
        1.0,
        ge=0.0,
        le=60.0,
        description="`ragqa sync --watch`: a file modified more recently than this is still being written; later.",
    )
    feedback_keep_answers: int = Field(
        10_000,
        ge=100,
        le=10_000_000,
        description="Answers remembered for feedback (POST /v1/feedback); older ones without feedback are pruned.",
    )

    # --- hardening: who is trusted, and how much work one upload may cost
    widget_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Origins (comma-separated) that may call the widget's routes (`/v1/ask`, `/v1/ask/stream`, "
        "`/v1/chat/completions`) cross-origin, on top of `cors_origins`; `*` = any page may embed the widget, "
        "empty = only `cors_origins`.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Proxy addresses or networks (comma-separated IPs/CIDRs, e.g. `127.0.0.1,10.0.0.0/8`) whose "
        "`X-Forwarded-For`/`X-Forwarded-Proto` are believed; empty = no one's. The client address that results "
        "keys the rate limit and the access log.",
    )
    max_document_chars: int = Field(
        2_000_000,
        ge=1_000,
        le=100_000_000,
        description="Most characters of text one document may have; checked while extracting, before chunking.",
    )
    max_document_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        le=2**40,
        description="Most bytes one document file may have, whoever reads it (`ragqa ingest`/`sync` from disk, or "
        "an upload); checked before it is parsed. Uploads over HTTP are also capped by `max_upload_bytes` (413), "
        "checked first, while the body arrives.",
    )
    max_document_chunks: int = Field(
        2_000, ge=1, le=1_000_000, description="Most chunks one document may have; checked before embedding."
    )
    max_page_chars: int = Field(
        100_000,
        ge=1_000,
        le=100_000_000,
        description="Most characters one PDF page may yield; extraction stops as soon as a page exceeds it.",
    )
    ingest_time_budget_s: float = Field(
        300.0,
        ge=1.0,
        le=86_400.0,
        description="Seconds one file may take to extract, chunk and embed before it is rejected (nothing is "
        "written); checked between pages and embedding batches.",
    )

    @field_validator("api_keys", "cors_origins", "widget_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


SECRET_FIELDS = frozenset({"api_keys", "milvus_token", "generator_api_key"})
"""Settings whose values are never echoed in an error message."""


def settings_error_message(exc: ValidationError) -> str:
    """One line naming each rejected variable, its value (not for secrets) and why, e.g.
    ``invalid setting RAGQA_GENERATION_WORKERS='0': Input should be greater than or equal to 1``."""
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        value = "" if name in SECRET_FIELDS else "=" + repr(error.get("input"))[:80]
        problems.append(f"RAGQA_{name.upper()}{value}: {error['msg']}")
    return f"invalid setting{'s' if len(problems) > 1 else ''} " + "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """The settings from ``RAGQA_*`` variables and ``.env``, read once (tests clear the cache). A value outside
    its type or bounds raises ``SettingsError`` with one line (the CLI prints it as ``error: ...``)."""
    from rag.errors import SettingsError  # here: rag.errors loads the index package (numpy, faiss)

    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(settings_error_message(exc)) from None
