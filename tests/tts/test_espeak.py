import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pipeline.tts.espeak import EspeakSpeech, TTSError, Voice

TEXT = "Natalia sold 24 clips in May. So the answer is 72."


def test_same_text_and_voice_give_the_same_samples_whatever_came_before():
    first_engine, second_engine = EspeakSpeech(), EspeakSpeech()
    first = first_engine.synthesize(TEXT, Voice("en-us+f3"))
    second_engine.synthesize("Something else, said with another voice.", Voice("en-us+m3", 190, 40))
    second = second_engine.synthesize(TEXT, Voice("en-us+f3"))
    assert first.dtype == np.int16 and first.size > first_engine.sample_rate
    assert np.array_equal(first, second)
    assert np.array_equal(first, first_engine.synthesize(TEXT, Voice("en-us+f3")))


def test_voice_settings_change_the_audio():
    engine = EspeakSpeech()
    slow = engine.synthesize(TEXT, Voice("en-us", rate=140))
    fast = engine.synthesize(TEXT, Voice("en-us", rate=220))
    assert slow.size > fast.size * 1.3


def test_unknown_voice_fails_clearly_and_the_engine_goes_on():
    engine = EspeakSpeech()
    with pytest.raises(TTSError, match="unknown espeak voice"):
        engine.synthesize(TEXT, Voice("xx-none"))
    assert engine.synthesize(TEXT, Voice("en-us")).size > 0


def _ended(pid: int) -> bool:
    """Gone, or a zombie that only waits to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads the process tree from /proc")
def test_a_child_that_dies_is_replaced_or_reported_and_the_engine_goes_on():
    engine = EspeakSpeech()
    expected = engine.synthesize(TEXT, Voice("en-us"))
    spares = _children(engine._helpers[0].process.pid)  # the child waiting for the next request
    for spare in spares:
        os.kill(spare, signal.SIGKILL)
    while set(spares) & set(_children(engine._helpers[0].process.pid)):  # until the helper reaped it
        time.sleep(0.01)
    assert np.array_equal(engine.synthesize(TEXT, Voice("en-us")), expected)
    killed = []

    def kill_children() -> None:
        killed.extend(_children(engine._helpers[0].process.pid))
        for child in killed:
            os.kill(child, signal.SIGKILL)

    killer = threading.Timer(0.05, kill_children)
    killer.start()  # kills the child speaking a long text, and the spare
    with pytest.raises(TTSError, match="synthesis process ended"):
        engine.synthesize(" ".join([TEXT] * 200), Voice("en-us"))
    killer.join()
    while set(killed) & set(_children(engine._helpers[0].process.pid)):
        time.sleep(0.01)
    assert np.array_equal(engine.synthesize(TEXT, Voice("en-us")), expected)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads the process tree from /proc")
def test_an_utterance_past_the_time_limit_ends_its_helper_and_a_fresh_one_takes_over():
    engine = EspeakSpeech(timeout=0.001)
    slow = engine._helpers[0]
    children = _children(slow.process.pid)
    with pytest.raises(TTSError, match="longer than") as caught:
        engine.synthesize(" ".join([TEXT] * 50), Voice("en-us"))
    assert caught.value.reason == "record_timeout"
    assert slow.process.poll() is not None
    deadline = time.monotonic() + 10  # killed at once; under load, gone a moment later
    while not all(_ended(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(_ended(child) for child in children)
    fresh = engine._helpers[0]
    assert fresh is not slow and fresh.alive
    fresh._timeout = 10.0
    assert engine.synthesize(TEXT, Voice("en-us")).size > 0


def _waiting_in(pid: int) -> str:
    """The kernel function the process waits in ("pipe_read", or "anon_pipe_read" on newer
    kernels), "" once it has gone."""
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return wchan.read()
    except FileNotFoundError:
        return ""


@pytest.mark.skipif(not os.path.exists("/proc/self/wchan"), reason="reads what a process waits on from /proc")
def test_a_child_killed_partway_through_its_reply_gives_a_failure_never_half_a_reply():
    engine = EspeakSpeech()
    expected = engine.synthesize(TEXT, Voice("en-us"))
    helper = engine._helpers[0].process.pid
    (speaker,) = [c for c in _children(helper) if "pipe_read" in _waiting_in(c)]  # the spare: it speaks next
    outcome = []
    asking = threading.Thread(target=lambda: outcome.append(
        pytest.raises(TTSError, engine.synthesize, " ".join([TEXT] * 60), Voice("en-us"))))
    asking.start()
    deadline = time.monotonic() + 20
    while "pipe_read" in _waiting_in(speaker) and time.monotonic() < deadline:  # until it has the request
        time.sleep(0.001)
    os.kill(helper, signal.SIGSTOP)  # the helper reads no more: the reply fills its pipe
    while "pipe_write" not in _waiting_in(speaker) and time.monotonic() < deadline:
        time.sleep(0.01)
    if "pipe_write" not in _waiting_in(speaker):
        os.kill(helper, signal.SIGCONT)
        asking.join()
        pytest.skip("this system does not say what a process waits on")
    os.kill(speaker, signal.SIGKILL)
    os.kill(helper, signal.SIGCONT)
    asking.join()
    assert outcome and "ended before it had replied" in str(outcome[0].value)
    assert engine._helpers[0].process.pid == helper  # the same helper goes on, in step
    assert np.array_equal(engine.synthesize(TEXT, Voice("en-us")), expected)


def test_replies_longer_than_a_pipe_arrive_whole_while_children_end_around_them():
    long_text = " ".join([TEXT] * 12)  # about 40 s of audio: more than a pipe holds
    engine = EspeakSpeech(helpers=2)
    expected = engine.synthesize(long_text, Voice("en-us"))
    assert expected.nbytes > 1 << 20
    with ThreadPoolExecutor(4) as requests:
        for _ in range(15):
            asked = [requests.submit(engine.synthesize, long_text, Voice("en-us"))]
            asked += [requests.submit(engine.synthesize, TEXT, Voice("en-us+f3")) for _ in range(3)]
            assert np.array_equal(asked[0].result(), expected)
            assert all(reply.result().size for reply in asked[1:])
