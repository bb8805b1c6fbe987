"""Settings of one dataset build, shared by every stage and picklable for Beam workers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlsplit, urlunsplit

import prompts
from pipeline import __version__

LLM_PROMPTS = ("rewrite", "split")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of the output: same config, same bytes."""

    seed: int = 0
    llm: str = "rules"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_timeout: float = 60.0
    llm_retries: int = 4
    llm_concurrency: int = 64
    llm_cache_dir: str = ""
    llm_api_key_file: str = ""
    llm_rpm: float = 0
    llm_tpm: float = 0
    llm_rate_limiter: str = ""
    llm_rate_limit_domain: str = "spoken-math"
    llm_structured_output: bool = False
    judge: str = "off"
    response_ratio: str = "a third to a half"
    tts: str = "espeak"
    tokenizer: str = "qwen2.5"
    p: int = 2
    q: int = 8
    decode_rate: float = 50.0
    max_problem_chars: int = 8000
    record_timeout: float = 10.0
    decontaminate: tuple[str, ...] = ()
    ngram: int = 13
    max_question_words: int = 150
    max_question_seconds: float = 60.0
    speaking_rate: float = 2.5
    max_response_ratio: float = 0.5
    max_response_seconds: float = 20.0
    question_voices: tuple[str, ...] = ()
    response_voice: str = ""
    tts_base_url: str = ""
    tts_model: str = ""
    tts_api_key_env: str = "OPENAI_API_KEY"
    tts_timeout: float = 30.0
    tts_retries: int = 4
    tts_concurrency: int = 4
    tts_proxy: str = ""
    asr: str = "off"
    asr_base_url: str = ""
    asr_model: str = ""
    max_wer: float = 0.3
    question_sampling_rate: int = 16000
    response_sampling_rate: int = 24000
    loudness_dbfs: float = -20.0
    sentence_pause_ms: int = 250
    audio_format: str = "wav"
    min_words_per_second: float = 1.2
    max_words_per_second: float = 5.0

    def provenance(self) -> dict:
        """What a record says about how it was made."""
        used = (LLM_PROMPTS if self.llm == "openai" else ()) + (("judge",) if self.judge == "openai" else ())
        return {
            "pipeline_version": __version__,
            "llm": self.llm,
            "llm_model": self.llm_model,
            "prompts": ",".join(f"{name}:{prompts.load(name).sha256}" for name in used),
            "tts": self.tts,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
        }

    def as_dict(self) -> dict:
        """The settings as ``summary.json`` records them: no URL keeps a password or a query."""
        return {name: without_credentials(value) if isinstance(value, str) else value
                for name, value in asdict(self).items()}


def without_credentials(text: str) -> str:
    """``scheme://user:pass@host/path?key=...`` as ``scheme://host/path``; other text as it is."""
    if "://" not in text:
        return text
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
