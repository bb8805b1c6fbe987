"""A real WebSocket server on 127.0.0.1 that speaks the Edge read-aloud protocol edge-tts
uses: it says the SSML's text with espeak and streams it back as MP3 (encoded in-process with libsndfile).

The first ``throttled`` connections get HTTP 429; ``garbage_words`` are words whose text
gets audio frames that are not MP3.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading

from aiohttp import web

from pipeline.tts.audio import encode
from pipeline.tts.espeak import EspeakSpeech
from pipeline.tts.voice import Voice

_TEXT_RE = re.compile(r"<prosody[^>]*>(.*?)</prosody>", re.S)


def _message(path: str, body: str = "{}") -> str:
    return f"X-RequestId:test\r\nContent-Type:application/json; charset=utf-8\r\nPath:{path}\r\n\r\n{body}"


def _audio_frame(data: bytes) -> bytes:
    header = b"X-RequestId:test\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n"
    return len(header).to_bytes(2, "big") + header + data


class EdgeServer:
    def __init__(self, throttled: int = 0, garbage_words: tuple[str, ...] = ()) -> None:
        self.throttled, self.garbage_words = throttled, garbage_words
        self.connections = 0
        self._engine = EspeakSpeech()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/edge/v1?TrustedClientToken=test"

    def _mp3(self, text: str) -> bytes:
        pcm = self._engine.synthesize(text, Voice("en-us"))
        return encode(pcm, self._engine.sample_rate, "mp3")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.receive_str()  # speech.config
        ssml = await socket.receive_str()
        text = html.unescape(_TEXT_RE.search(ssml).group(1)).strip()
        await socket.send_str(_message("turn.start"))
        garbage = any(word in text for word in self.garbage_words)
        audio = b"\x00\x01 not an mp3 frame" * 40 if garbage else self._mp3(text)
        for start in range(0, len(audio), 4096):
            await socket.send_bytes(_audio_frame(audio[start:start + 4096]))
        await socket.send_str(_message("turn.end"))
        await socket.close()
        return socket

    @web.middleware
    async def _throttle(self, request: web.Request, handler):
        self.connections += 1
        if self.connections <= self.throttled:
            return web.Response(status=429, headers={"Retry-After": "0"}, text="slow down")
        return await handler(request)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[self._throttle])
        app.router.add_get("/edge/v1", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> EdgeServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._engine.close()
