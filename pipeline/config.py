"""Settings of one dataset build, shared by every stage and picklable for Beam workers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline import __version__


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of the output: same config, same bytes."""

    seed: int = 0
    llm: str = "rules"
    tts: str = "espeak"
    tokenizer: str = "qwen2.5"
    p: int = 2
    q: int = 8
    decode_rate: float = 50.0
    max_problem_chars: int = 8000
    question_voices: tuple[str, ...] = ("en-us", "en-us+m3", "en-us+f2", "en-us+m7", "en-us+f4")
    response_voice: str = "en-us+f3"
    min_words_per_second: float = 1.2
    max_words_per_second: float = 5.0

    def provenance(self) -> dict:
        """What a record says about how it was made."""
        return {
            "pipeline_version": __version__,
            "llm": self.llm,
            "tts": self.tts,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
        }

    def as_dict(self) -> dict:
        return asdict(self)
