"""Stage 4: render the question and the response as speech."""

from __future__ import annotations

import hashlib
import re

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.tts import make_engine, voices
from pipeline.tts.asr import OpenAITranscriber, word_error_rate
from pipeline.tts.audio import Clip, audio_problem, encode_clip, hf_audio, join_sentences
from pipeline.tts.voice import TTSError, Voice

STAGE = "speech"


def question_voice(record_id: str, config: BuildConfig) -> Voice:
    """A voice from the pool, with rate and pitch jitter, fixed by the id and the seed."""
    digest = hashlib.sha256(f"{config.seed}:{record_id}:voice".encode()).digest()
    pool = voices(config)[0]
    return Voice(pool[digest[0] % len(pool)], rate=160 + digest[1] % 31, pitch=40 + digest[2] % 21,
                 engine=config.tts)


def _synthesize(engine, text: str, voice: Voice):
    try:
        return engine.synthesize(text, voice)
    except TTSError as error:
        raise Reject(STAGE, error.reason, str(error)) from None


def _checked(clip: Clip, text: str, path: str, config: BuildConfig) -> dict:
    problem = audio_problem(clip, len(re.findall(r"\w+", text)),
                            config.min_words_per_second, config.max_words_per_second)
    if problem:
        raise Reject(STAGE, problem[0], f"{path}: {problem[1]}")
    return hf_audio(clip, path)


def speak(record: dict, config: BuildConfig, engine, transcriber: OpenAITranscriber | None = None) -> dict:
    """Add question and response audio with their rate, duration and voice, and the
    start and end of each response sentence in the response audio; with a transcriber,
    hear both back."""
    asker = question_voice(record["id"], config)
    assistant = Voice(voices(config)[1], engine=config.tts)
    question_clip = encode_clip(_synthesize(engine, record["question"], asker), engine.sample_rate,
                                config.question_sampling_rate, config.loudness_dbfs, config.audio_format)
    question = _checked(question_clip, record["question"], f"{record['id']}-question.{config.audio_format}",
                        config)
    sentences = [sentence["text"] for sentence in record["response"]]
    response_clip, times = join_sentences([_synthesize(engine, text, assistant) for text in sentences],
                                          engine.sample_rate, config.response_sampling_rate,
                                          config.sentence_pause_ms, config.loudness_dbfs, config.audio_format)
    response = _checked(response_clip, " ".join(sentences), f"{record['id']}-response.{config.audio_format}",
                        config)
    wer = -1.0
    if transcriber is not None:
        wer = heard_error(transcriber, [(question_clip, record["question"], question["path"]),
                                        (response_clip, " ".join(sentences), response["path"])], config)
    return {
        **record,
        "question_audio": question,
        "question_sampling_rate": question_clip.sample_rate,
        "question_duration": question_clip.duration,
        "question_voice": str(asker),
        "response_audio": response,
        "response_sampling_rate": response_clip.sample_rate,
        "response_duration": response_clip.duration,
        "response_voice": str(assistant),
        "response_sentence_times": times,
        "checks": {**record["checks"], "audio": "pass", "asr_wer": round(wer, 4)},
    }


def heard_error(transcriber: OpenAITranscriber, clips: list[tuple[Clip, str, str]],
                config: BuildConfig) -> float:
    """The worst word error rate of the clips heard back; above ``config.max_wer`` rejects."""
    worst = 0.0
    for clip, text, path in clips:
        try:
            heard = transcriber.transcribe(clip.data, path, f"audio/{clip.format}")
        except TTSError as error:
            raise Reject(STAGE, error.reason, str(error)) from None
        rate = word_error_rate(text, heard)
        if rate > config.max_wer:
            raise Reject(STAGE, "asr_mismatch", f"{path}: word error rate {rate:.2f} "
                         f"(limit {config.max_wer}); heard {heard[:160]!r}")
        worst = max(worst, rate)
    return worst


def make(config: BuildConfig):
    """Start the engine (and the transcriber, when asked for) once per worker."""
    engine = make_engine(config)
    transcriber = None
    if config.asr == "openai":
        transcriber = OpenAITranscriber(config.asr_base_url, config.asr_model, config.tts_api_key_env,
                                        config.tts_timeout, config.tts_retries)
    return lambda record: speak(record, config, engine, transcriber)
