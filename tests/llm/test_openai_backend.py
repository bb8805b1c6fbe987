"""The LLM backend against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from dataclasses import replace

import pytest

import schemas
from pipeline.reject import Reject
from pipeline.stages import rewrite, split
from tests.fakes.openai_server import OpenAIServer
from tests.stages.test_split import NATALIA


@pytest.fixture
def llm_config(config, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-secret-123")

    def make(server):
        return replace(config, llm="openai", llm_base_url=server.base_url, llm_model="test-model",
                       llm_api_key_env="TEST_LLM_KEY", llm_timeout=5.0)
    return make


def run_stages(config, record):
    return split.setup(config)(rewrite.setup(config)(record))


def test_rewrite_and_split_through_the_endpoint(llm_config):
    with OpenAIServer() as server:
        config = llm_config(server)
        out = run_stages(config, NATALIA)
    assert out["question"].startswith("Natalia sold clips to 48")
    assert out["response"][-1]["after_step"] == len(out["reasoning"])
    assert out["provenance"]["llm_model"] == "test-model"
    assert out["provenance"]["prompts"].startswith("rewrite:")
    assert schemas.first_error("split", out) is None
    assert server.requests["/v1/chat/completions"] == 2
    assert server.authorizations == {"Bearer sk-test-secret-123"}


def test_fenced_json_is_accepted(llm_config):
    with OpenAIServer({"Natalia": "fenced"}) as server:
        out = run_stages(llm_config(server), NATALIA)
    assert out["reasoning"]


@pytest.mark.parametrize(("fault", "reason"), [
    ("invalid_json", "llm_invalid_json"),
    ("schema", "llm_schema"),
    ("http_500", "llm_http_error"),
])
def test_bad_replies_become_rejects(llm_config, fault, reason):
    with OpenAIServer({"Natalia": fault}) as server, pytest.raises(Reject) as caught:
        rewrite.setup(replace(llm_config(server), llm_retries=1))(NATALIA)  # a 500 is retried, once here
    assert caught.value.reason == reason


def test_a_bad_reply_is_asked_again_once(llm_config):
    with OpenAIServer({"Natalia": "invalid_json_once"}) as server:
        out = rewrite.setup(llm_config(server))(NATALIA)
    assert out["question"]
    assert server.requests["/v1/chat/completions"] == 2


def test_a_drifting_split_is_rejected_after_one_repair(llm_config, config):
    record = rewrite.rewrite(NATALIA, config)
    with OpenAIServer({"Natalia": "drift"}) as server, pytest.raises(Reject) as caught:
        split.setup(llm_config(server))(record)
    assert caught.value.reason in ("anticipation_drift", "answer_before_reasoning_ends")
    assert server.requests["/v1/chat/completions"] == 2


def test_unreachable_endpoint_is_a_reject(config):
    dead = replace(config, llm="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model="m",
                   llm_timeout=1.0, llm_retries=1)
    with pytest.raises(Reject) as caught:
        rewrite.setup(dead)(NATALIA)
    assert caught.value.reason == "llm_unreachable"


def test_judge_keeps_its_verdict(llm_config, config):
    record = rewrite.rewrite(NATALIA, config)
    with OpenAIServer() as server:
        judged = replace(llm_config(server), llm="rules", judge="openai")
        out = split.setup(judged)(record)
    assert out["checks"]["judge"] == "pass" and out["checks"]["judge_reason"]
    assert schemas.first_error("split", out) is None
    assert server.requests["/v1/chat/completions"] == 1


def test_judge_verdict_of_drift_rejects(llm_config, config):
    record = rewrite.rewrite(NATALIA, config)
    with OpenAIServer({"Natalia": "judge_drift"}) as server:
        judged = replace(llm_config(server), llm="rules", judge="openai")
        with pytest.raises(Reject) as caught:
            split.setup(judged)(record)
    assert caught.value.reason == "judge_drift" and "72" in caught.value.detail
