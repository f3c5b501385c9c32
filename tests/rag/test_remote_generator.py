"""The remote (OpenAI-compatible) generator against a real HTTP server that follows a script: the request it sends,
streaming, typed failures (never a hang), cancel closing the upstream stream, engine selection and the HTTP edge."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.engine import Engine, build_generator
from rag.errors import GenerationCancelled, GeneratorUnavailableError, ModelError
from rag.models.generator import ChatMessage
from rag.models.remote import OpenAICompatibleGenerator
from tests.api.helpers import Harness, parse_sse
from tests.conftest import HEADLINE, make_settings
from tests.rag.openai_server import Script, ScriptedOpenAIServer

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv


@pytest.fixture
def srv(server: ScriptedOpenAIServer) -> ScriptedOpenAIServer:
    server.script = Script()
    server.requests.clear()
    server.headers.clear()
    server.client_went_away.clear()
    server.stream_finished.clear()
    return server


def _gen(srv: ScriptedOpenAIServer, **kwargs: object) -> OpenAICompatibleGenerator:
    return OpenAICompatibleGenerator(srv.base_url, "my-model", **kwargs)  # type: ignore[arg-type]


def test_streams_the_pieces_and_sends_an_openai_request(srv: ScriptedOpenAIServer) -> None:
    gen = _gen(srv, api_key="sk-remote-123")
    pieces = list(gen.stream(MESSAGES, max_new_tokens=64))
    assert pieces == ["Hello", " there", ".", " Bye", "."]
    body = srv.requests[-1]
    assert body["model"] == "my-model"
    assert body["stream"] is True
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    assert srv.headers[-1]["authorization"] == "Bearer sk-remote-123"
    assert gen.model_id == "my-model"


def test_no_key_sends_no_authorization(srv: ScriptedOpenAIServer) -> None:
    assert "".join(_gen(srv).stream(MESSAGES, max_new_tokens=8)) == "Hello there. Bye."
    assert "authorization" not in srv.headers[-1]


def test_count_tokens_is_an_estimate_of_four_characters_per_token(srv: ScriptedOpenAIServer) -> None:
    gen = _gen(srv)
    assert gen.count_tokens("") == 0
    assert gen.count_tokens("abcd") == 1
    assert gen.count_tokens("abcde") == 2


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_unavailable_with_retry_after(srv: ScriptedOpenAIServer, status: int) -> None:
    srv.script = Script(status=status)
    with pytest.raises(GeneratorUnavailableError, match=f"HTTP {status}") as info:
        list(_gen(srv, retry_after_s=7).stream(MESSAGES, max_new_tokens=8))
    assert info.value.retry_after_s == 7


def test_a_refused_request_is_a_model_error_not_unavailable(srv: ScriptedOpenAIServer) -> None:
    srv.script = Script(status=401)
    with pytest.raises(ModelError, match="HTTP 401") as info:
        list(_gen(srv).stream(MESSAGES, max_new_tokens=8))
    assert not isinstance(info.value, GeneratorUnavailableError)


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "m")
    with pytest.raises(GeneratorUnavailableError, match="cannot be reached"):
        list(gen.stream(MESSAGES, max_new_tokens=8))


def test_a_silent_server_times_out_instead_of_hanging(srv: ScriptedOpenAIServer) -> None:
    srv.script = Script(delay_first_s=5.0)
    started = time.monotonic()
    with pytest.raises(GeneratorUnavailableError):
        list(_gen(srv, timeout_s=0.5).stream(MESSAGES, max_new_tokens=8))
    assert time.monotonic() - started < 3.0


def test_a_stream_that_breaks_off_is_unavailable(srv: ScriptedOpenAIServer) -> None:
    srv.script = Script(break_after=2)
    pieces: list[str] = []
    with pytest.raises(GeneratorUnavailableError, match="broke off"):
        for piece in _gen(srv).stream(MESSAGES, max_new_tokens=8):
            pieces.append(piece)
    assert pieces == ["Hello", " there"]


def test_cancel_between_tokens_closes_the_upstream_stream(srv: ScriptedOpenAIServer) -> None:
    srv.script = Script(words=[f" w{i}" for i in range(100)], delay_each_s=0.05)
    cancel = threading.Event()
    pieces: list[str] = []
    with pytest.raises(GenerationCancelled):
        for piece in _gen(srv).stream(MESSAGES, max_new_tokens=100, cancel=cancel):
            pieces.append(piece)
            if len(pieces) == 3:
                cancel.set()
    assert len(pieces) == 3
    assert srv.client_went_away.wait(5.0), "the server never saw the client go away"
    assert not srv.stream_finished.is_set()


def test_cancel_while_waiting_for_the_first_token_returns_at_once(srv: ScriptedOpenAIServer) -> None:
    srv.script = Script(delay_first_s=30.0)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        list(_gen(srv, timeout_s=60).stream(MESSAGES, max_new_tokens=8, cancel=cancel))
    assert time.monotonic() - started < 3.0
    assert srv.client_went_away.wait(5.0)


def test_bad_configuration_is_refused_up_front() -> None:
    with pytest.raises(ModelError, match="http"):
        OpenAICompatibleGenerator("gpu-box:8000/v1", "m")
    with pytest.raises(ModelError, match="model"):
        OpenAICompatibleGenerator("http://gpu-box:8000/v1", "")


def test_engine_builds_the_remote_generator_from_settings(tmp_path: Path, srv: ScriptedOpenAIServer) -> None:
    settings = make_settings(
        tmp_path / "data",
        generator_url=srv.base_url,
        generator_model="served-model",
        generator_api_key="sk-abc",
        generator="/nonexistent/local/model",  # never loaded when the URL is set
    )
    gen = build_generator(settings)
    assert isinstance(gen, OpenAICompatibleGenerator)
    assert "".join(gen.stream(MESSAGES, max_new_tokens=8)) == "Hello there. Bye."
    assert srv.headers[-1]["authorization"] == "Bearer sk-abc"
    assert srv.requests[-1]["model"] == "served-model"


def test_engine_refuses_a_url_without_a_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", generator_url="http://127.0.0.1:9/v1")
    with pytest.raises(ModelError, match="RAGQA_GENERATOR_MODEL"):
        build_generator(settings)


def _remote_engine(harness: Harness, srv: ScriptedOpenAIServer) -> Engine:
    engine = harness.engine()
    engine.generator = OpenAICompatibleGenerator(srv.base_url, "m", retry_after_s=9)
    return engine


def test_api_ask_answers_503_with_retry_after_when_the_remote_generator_fails(
    tmp_path: Path, srv: ScriptedOpenAIServer
) -> None:
    harness = Harness(tmp_path)
    try:
        client = harness.client(_remote_engine(harness, srv))
        srv.script = Script(status=502)
        r = client.post("/v1/ask", json={"question": HEADLINE})
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "9"
        assert r.json()["error"]["type"] == "generator_unavailable"
        assert "HTTP 502" in r.json()["error"]["message"]
    finally:
        harness.close()


def test_api_stream_sends_an_error_event_when_the_remote_generator_is_down(
    tmp_path: Path, srv: ScriptedOpenAIServer
) -> None:
    harness = Harness(tmp_path)
    try:
        client = harness.client(_remote_engine(harness, srv))
        srv.script = Script(status=503)
        r = client.post("/v1/ask/stream", json={"question": HEADLINE})
        assert r.status_code == 200
        events = parse_sse(r.text)
        names = [e.event for e in events]
        assert names[0] == "passages"
        assert names[-1] == "error"
        assert "done" not in names
        assert events[-1].data["error"]["type"] == "generator_unavailable"
    finally:
        harness.close()


def test_api_answer_streams_through_the_remote_generator(tmp_path: Path, srv: ScriptedOpenAIServer) -> None:
    harness = Harness(tmp_path)
    try:
        client = harness.client(_remote_engine(harness, srv))
        r = client.post("/v1/ask", json={"question": HEADLINE})
        assert r.status_code == 200, r.text
        assert srv.requests, "the remote generator was not asked"
        prompt = srv.requests[-1]["messages"][-1]["content"]
        assert "Seoul" in prompt  # the same evidence prompt as the local generator gets
        assert not r.json()["refused"]
    finally:
        harness.close()
