"""The ``ragqa`` command line: search output shapes, batch queries, index maintenance, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from index import IndexStore
from rag import cli
from rag.engine import Engine
from rag.settings import Settings
from tests.conftest import FAKE_DIMENSION, HEADLINE, REPO_ROOT, SEED_SOURCE, SEEDS_DIR, FakeModelLoads
from tests.fakes import HashEmbedder

PASSAGE_KEYS = {"source", "title", "text", "start", "end", "score", "page", "meta"}

ARTICLES = {
    "harbour.txt": (
        "Harbour news\nThe lighthouse keeper counts ships every morning.\n"
        "Storms close the harbour about ten days a year, and the island ferry stops."
    ),
    "orchard.txt": "Orchard news\nThe apple harvest began in September.\nThe cider press opens in October.",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture
def data_dir(fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    data = str(tmp_path / "data")
    rc, out, _ = run(capsys, "ingest", str(folder), "--data-dir", data)
    assert rc == 0
    assert out.startswith("added 2 · replaced 0 · unchanged 0 · failed 0 · ")
    fake_models.calls.clear()
    return data


def check_search_line(line: str, query: str, texts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    obj = json.loads(line)
    assert set(obj) == {"query", "passages"}
    assert obj["query"] == query
    assert isinstance(obj["passages"], list)
    for p in obj["passages"]:
        assert set(p) == PASSAGE_KEYS
        assert isinstance(p["source"], str) and isinstance(p["title"], str) and isinstance(p["text"], str)
        assert isinstance(p["start"], int) and isinstance(p["end"], int) and isinstance(p["score"], float)
        if texts is not None:
            assert texts[p["source"]][p["start"] : p["end"]] == p["text"]
    return list(obj["passages"])


# ---------------------------------------------------------------- search, fakes


def test_search_json_shape(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "search", "when does the cider press open", "--json", "-k", "2", "--data-dir", data_dir)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    passages = check_search_line(lines[0], "when does the cider press open", ARTICLES)
    assert 1 <= len(passages) <= 2
    assert passages[0]["source"] == "orchard.txt"


def test_search_batch_queries_one_line_each_and_models_load_once(
    data_dir: str, fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = ["lighthouse ships", "apple harvest", "island ferry storms"]
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps({"id": i, "question": q, "answer": "ignored", "extra": [1]}) for i, q in enumerate(questions)
        )
        + "\n\n",
        encoding="utf-8",
    )
    rc, out, err = run(capsys, "search", "--queries", str(queries), "--json", "--data-dir", data_dir)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == len(questions)
    for line, question in zip(lines, questions, strict=True):
        assert check_search_line(line, question, ARTICLES)
    assert fake_models.count == 1


def test_search_human_output(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "search", "lighthouse", "--no-rerank", "--data-dir", data_dir)
    assert rc == 0
    assert "lighthouse" in out and "1. [" in out and "harbour.txt" in out


def test_search_source_filter(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "search", "lighthouse apple", "--json", "--source", "orch*", "--data-dir", data_dir)
    assert rc == 0
    assert {p["source"] for p in check_search_line(out, "lighthouse apple")} == {"orchard.txt"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "ok"}\nnot json\n', ":2: not JSON"),
        ('{"q": "no question field"}\n', ":1: expected an object with a string 'question' field"),
        ('["a list"]\n', ":1: expected an object"),
    ],
)
def test_search_bad_queries_file(
    data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(content, encoding="utf-8")
    rc, out, err = run(capsys, "search", "--queries", str(queries), "--json", "--data-dir", data_dir)
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["search"],
        ["search", "   "],
        ["search", "--queries", "/no/such/file.jsonl"],
    ],
)
def test_search_usage_errors_are_one_line(data_dir: str, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    rc, _, err = run(capsys, *argv, "--data-dir", data_dir)
    assert rc == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_search_without_an_index(
    fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(capsys, "search", "anything", "--data-dir", str(tmp_path / "nothing-here"))
    assert rc == 1
    assert err.startswith("error: no index at") and err.count("\n") == 1
    assert not (tmp_path / "nothing-here").exists(), "a read command must not create an index"


# ---------------------------------------------------------------- index maintenance


def test_index_stats(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "index", "stats", "--json", "--data-dir", data_dir)
    assert rc == 0
    stats = json.loads(out)
    assert stats["documents"] == 2 and stats["chunks"] == stats["vectors"] > 0
    assert stats["embedder_id"] == "hash-embedder" and stats["dimension"] == FAKE_DIMENSION
    rc, out, _ = run(capsys, "index", "stats", "--data-dir", data_dir)
    assert rc == 0 and "documents" in out and "chunks" in out


def test_index_verify_and_rebuild(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "index", "verify", "--data-dir", data_dir)
    assert rc == 0 and out.startswith("verify ok: ")
    (Path(data_dir) / "vectors.faiss").unlink()
    rc, out, _ = run(capsys, "index", "rebuild", "--data-dir", data_dir)
    assert rc == 0 and out.startswith("rebuilt: ")
    assert (Path(data_dir) / "vectors.faiss").is_file()
    rc, out, _ = run(capsys, "index", "verify", "--data-dir", data_dir)
    assert rc == 0 and out.startswith("verify ok: ")


def test_a_corrupt_vector_file_is_rebuilt_on_open(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(data_dir) / "vectors.faiss"
    path.write_bytes(path.read_bytes()[:-8] + b"\x00" * 8)
    rc, out, err = run(capsys, "index", "verify", "--data-dir", data_dir)
    # Opening rebuilds the derived file from the catalog, so the open index verifies fine again.
    assert rc == 0, err
    assert out.startswith("verify ok: ")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("models", "ingest", "delete", "index", "search"):
        assert command in out


def _commands(parser: argparse.ArgumentParser, path: str = "ragqa") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_has_an_example_and_every_option_help() -> None:
    commands = _commands(cli.build_parser())
    assert {"ragqa index stats", "ragqa index verify", "ragqa index rebuild", "ragqa index copy"} <= dict(
        commands
    ).keys()
    for path, parser in commands:
        assert parser.epilog and parser.epilog.startswith("example: ragqa"), path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{path}: {action.option_strings or action.dest} has no help"


# ---------------------------------------------------------------- real models (slow), as a user runs them


def ragqa(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *argv],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_real_cli_ingest_search_delete(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    done = ragqa("ingest", str(SEEDS_DIR), "--data-dir", data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("added 1 · ")

    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"question": HEADLINE, "id": "q1"}) + "\n" + json.dumps({"question": "Who visited Pyongyang?"}),
        encoding="utf-8",
    )
    done = ragqa("search", "--queries", str(queries), "--json", "-k", "3", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    texts = {SEED_SOURCE: (SEEDS_DIR / SEED_SOURCE).read_text(encoding="utf-8").strip()}
    first = check_search_line(lines[0], HEADLINE, texts)
    assert len(first) == 3
    assert "visit to North Korea" in first[0]["text"] and "catalyst" in first[0]["text"]
    check_search_line(lines[1], "Who visited Pyongyang?", texts)

    done = ragqa("delete", SEED_SOURCE, "--data-dir", data)
    assert done.returncode == 0, done.stderr
    done = ragqa("index", "stats", "--json", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert (stats["documents"], stats["chunks"], stats["vectors"]) == (0, 0, 0)


@pytest.mark.slow
def test_real_cli_refuses_an_index_built_with_another_embedder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    emb = HashEmbedder(FAKE_DIMENSION)
    IndexStore.open(data, embedder_id=emb.model_id, embedder_checksum=emb.checksum, dimension=emb.dimension).close()
    done = ragqa("index", "stats", "--data-dir", str(data))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "hash-embedder" in errors[0] and "bge-small-en-v1.5" in errors[0]


@pytest.mark.slow
def test_real_cli_batch_search_loads_models_once(
    seed_engine: Engine,
    real_models_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rag.models import embedder, reranker

    loads = {"embedder": 0, "reranker": 0}

    def count(cls: type, key: str) -> None:
        original = cls.__init__  # type: ignore[misc]  # the class itself, patched below

        def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
            loads[key] += 1
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting_init)

    count(embedder.SentenceTransformerEmbedder, "embedder")
    count(reranker.CrossEncoderReranker, "reranker")
    questions = [HEADLINE, "What did Putin do?", "What must South Korea weigh?", "Who are Seoul's allies?"]
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps({"question": q}) for q in questions), encoding="utf-8")

    rc, out, err = run(
        capsys, "search", "--queries", str(queries), "--json", "--data-dir", str(real_models_settings.data_dir)
    )

    assert rc == 0, err
    assert len(out.splitlines()) == len(questions)
    assert loads == {"embedder": 1, "reranker": 1}


def test_cli_subcommands_version_and_global_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["models", "list", "--with-test-model"])
    assert exc.value.code == 2
    args = parser.parse_args(["-v", "--data-dir", "d", "index", "stats", "--json"])
    assert (args.verbose, args.data_dir, args.action, args.json) == (True, "d", "stats", True)
    assert parser.parse_args(["eval", "x", "-k", "3"]).k == parser.parse_args(["eval", "x", "--k", "3"]).k == 3
    assert parser.parse_args(["eval", "x", "--json"]).json == "-"
    assert parser.parse_args(["eval", "x", "--json", "out.json"]).json == "out.json"
    assert parser.parse_args(["eval", "x", "--report", "r.json"]).report == "r.json"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("ragqa ")
