"""Stage 4: render the question and the response as speech."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

from pipeline.asr import OpenAITranscriber, word_error_rate
from pipeline.config import TEXT_ONLY, BuildConfig
from pipeline.deadline import deadline
from pipeline.reject import Reject, ServiceError
from pipeline.seeding import seeded_bytes
from pipeline.stage import AwaitingStage, Stage, StageFunction
from pipeline.tts import CONCURRENT_ENGINES, REMOTE_ENGINES, make_engine, voices
from pipeline.tts.audio import Clip, audio_problem, encode_clip, hf_audio, join_sentences
from pipeline.tts.voice import TTSError, Voice

STAGE = "speech"


def question_voice(record_id: str, config: BuildConfig) -> Voice:
    """A voice from the pool, with rate and pitch jitter, fixed by the id and the seed."""
    digest = seeded_bytes(config.seed, record_id, "voice")
    pool = voices(config)[0]
    return Voice(pool[digest[0] % len(pool)], rate=160 + digest[1] % (config.question_rate_jitter + 1),
                 pitch=40 + digest[2] % 21, engine=config.tts)


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


def _clip_requests(record: dict, config: BuildConfig) -> tuple[Voice, Voice, list[tuple[str, Voice]]]:
    """(question voice, response voice, every clip to render: the question, then each
    response sentence)."""
    asker = question_voice(record["id"], config)
    assistant = Voice(voices(config)[1], engine=config.tts)
    sentences = [sentence["text"] for sentence in record["response"]]
    return asker, assistant, [(record["question"], asker)] + [(text, assistant) for text in sentences]


def _assembled(record: dict, config: BuildConfig, rate: int, asker: Voice, assistant: Voice,
               samples: list) -> tuple[dict, list[tuple[Clip, str, str]]]:
    """The record with both clips, encoded and checked, and the clips to hear back."""
    question_clip = encode_clip(samples[0], rate, config.question_sampling_rate, config.loudness_dbfs,
                                config.audio_format)
    question = _checked(question_clip, record["question"], f"{record['id']}-question.{config.audio_format}",
                        config)
    spoken = " ".join(sentence["text"] for sentence in record["response"])
    response_clip, times = join_sentences(samples[1:], rate, config.response_sampling_rate,
                                          config.sentence_pause_ms, config.loudness_dbfs, config.audio_format)
    response = _checked(response_clip, spoken, f"{record['id']}-response.{config.audio_format}", config)
    if response_clip.duration > config.max_response_seconds:  # stage 2 planned it from a word count
        raise Reject(STAGE, "response_too_long", f"{response_clip.duration:.1f} s of response audio "
                     f"(limit {config.max_response_seconds:g} s)")
    spoken_record = {
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
        "checks": {**record["checks"], "audio": "pass", "asr_wer": -1.0},
    }
    return spoken_record, [(question_clip, record["question"], question["path"]),
                           (response_clip, spoken, response["path"])]


def _with_wer(record: dict, wer: float) -> dict:
    return {**record, "checks": {**record["checks"], "asr_wer": round(wer, 4)}}


def speak(record: dict, config: BuildConfig, engine, transcriber: OpenAITranscriber | None = None) -> dict:
    """Add question and response audio with their rate, duration and voice, and the
    start and end of each response sentence in the response audio; with a transcriber,
    hear both back."""
    asker, assistant, wanted = _clip_requests(record, config)
    samples = [_synthesize(engine, text, voice) for text, voice in wanted]
    spoken, clips = _assembled(record, config, engine.sample_rate, asker, assistant, samples)
    return _with_wer(spoken, heard_error(transcriber, clips, config)) if transcriber else spoken


def speaking(config: BuildConfig, engine, transcriber: OpenAITranscriber | None) -> AwaitingStage:
    """``speak`` for engines that take several requests at once (online voices, espeak's
    helper processes) and for transcribers: every clip of a record is asked for at once, on
    ``config.tts_concurrency`` threads shared by all the records in flight, so that many
    requests are always in flight."""
    requests = ThreadPoolExecutor(config.tts_concurrency, thread_name_prefix="speech")

    async def speak_remotely(record: dict) -> dict:
        loop = asyncio.get_running_loop()
        asker, assistant, wanted = _clip_requests(record, config)
        samples = await asyncio.gather(*(loop.run_in_executor(requests, _synthesize, engine, text, voice)
                                         for text, voice in wanted))
        with deadline(config.record_timeout):  # on the loop's thread: nothing else runs meanwhile
            spoken, clips = _assembled(record, config, engine.sample_rate, asker, assistant, samples)
        if transcriber is None:
            return spoken
        wer = await loop.run_in_executor(requests, heard_error, transcriber, clips, config)
        return _with_wer(spoken, wer)

    return AwaitingStage(speak_remotely, config.tts_concurrency)


def heard_error(transcriber: OpenAITranscriber, clips: list[tuple[Clip, str, str]],
                config: BuildConfig) -> float:
    """The worst word error rate of the clips heard back; above ``config.max_wer`` rejects."""
    worst = 0.0
    for clip, text, path in clips:
        try:
            heard = transcriber.transcribe(clip.data, path, f"audio/{clip.format}")
        except ServiceError as error:
            raise Reject(STAGE, error.reason, str(error)) from None
        rate = word_error_rate(text, heard)
        if rate > config.max_wer:
            raise Reject(STAGE, "asr_mismatch", f"{path}: word error rate {rate:.2f} "
                         f"(limit {config.max_wer}); heard {heard[:160]!r}")
        worst = max(worst, rate)
    return worst


def setup(config: BuildConfig) -> StageFunction:
    """Start the engine (and the transcriber, when asked for) once per worker."""
    engine = make_engine(config)
    transcriber = None
    if config.asr == "openai":
        transcriber = OpenAITranscriber(config.asr_base_url, config.asr_model, config.tts_api_key_env,
                                        config.tts_timeout, config.tts_retries)
    # a remote engine waits out its own timeouts and retries, never --record_timeout
    concurrent = config.tts in CONCURRENT_ENGINES and config.tts_concurrency > 1
    if concurrent or config.tts in REMOTE_ENGINES or transcriber is not None:
        return speaking(config, engine, transcriber)
    return lambda record: speak(record, config, engine, transcriber)


def speaks(config: BuildConfig) -> bool:
    """A text-only build (``--tts none``) has no speech stage."""
    return config.tts != TEXT_ONLY


SPEECH = Stage(STAGE, "record", setup, speaks)
