"""The model side of thinking-in-speaking, small enough to read at once (nanoGPT's spirit).

- ``Thinker``: a decoder-only LM (RoPE, RMSNorm, SwiGLU, a KV cache for generation) that
  emits the interleaved text stream; ``HuggingFaceThinker`` puts any HF causal LM in its
  place behind the same three methods.
- ``AudioEncoder``: conv subsampling and a transformer over log-mel frames, with an
  adapter into the Thinker's embedding space (the question can be heard, not read).
- ``Talker``: reads the Thinker's hidden states at response positions (pads elsewhere)
  and predicts mel frames of the spoken response, a fixed number per response token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

Cache = list  # per layer (keys, values), or an HF cache object


@dataclass(frozen=True)
class ThinkerConfig:
    vocab_size: int
    layers: int = 4
    heads: int = 4
    width: int = 128
    rope_base: float = 10000.0
    cycle: int = 0  # > 0: a learned embedding of the slot the next token fills (p + q slots)
    stream_positions: bool = False  # rotary positions counted within each stream (Example.positions)


@dataclass(frozen=True)
class AudioConfig:
    n_mels: int = 64
    width: int = 96
    layers: int = 2
    heads: int = 4


@dataclass(frozen=True)
class TalkerConfig:
    n_mels: int = 64
    frames_per_token: int = 16
    width: int = 96
    layers: int = 2
    heads: int = 4


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x: torch.Tensor, start: int, base: float, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Rotary position embedding of (batch, heads, length, head_width) from position
    ``start``, or at given (batch, length) ``positions``."""
    half = x.shape[-1] // 2
    frequencies = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    if positions is None:
        positions = torch.arange(start, start + x.shape[2], device=x.device, dtype=torch.float32)
    else:
        positions = positions.to(torch.float32)[:, None]  # (batch, 1 for the heads, length)
    angles = positions[..., None] * frequencies
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class Block(nn.Module):
    """Pre-norm attention (RoPE) and SwiGLU feed-forward."""

    def __init__(self, width: int, heads: int, causal: bool = True, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.heads, self.causal, self.rope_base = heads, causal, rope_base
        self.attention_norm = RMSNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        self.mlp_norm = RMSNorm(width)
        hidden = 64 * ((8 * width // 3 + 63) // 64)
        self.gate_up = nn.Linear(width, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                positions: torch.Tensor | None = None):
        batch, length, width = x.shape
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2)
                   for t in self.qkv(self.attention_norm(x)).split(width, dim=2))
        start = 0 if cache is None else cache[0].shape[2]
        q, k = rotate(q, start, self.rope_base, positions), rotate(k, start, self.rope_base, positions)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        if mask is not None:
            keep = mask[:, None, None, :]
            if self.causal:
                keep = keep & torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        else:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal and length > 1)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, length, width))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up), (k, v)


class Thinker(nn.Module):
    """Predicts the next token of the stream; the question comes in as embeddings (text
    tokens, or audio frames through the adapter)."""

    def __init__(self, config: ThinkerConfig) -> None:
        super().__init__()
        self.config = config
        self.width = config.width
        self.tokens = nn.Embedding(config.vocab_size, config.width)
        self.blocks = nn.ModuleList(Block(config.width, config.heads, True, config.rope_base)
                                    for _ in range(config.layers))
        self.norm = RMSNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        nn.init.normal_(self.tokens.weight, std=0.02)
        if config.cycle:  # row 0 (outside the layout) stays zero; all start at zero, so a base is unchanged
            self.slots = nn.Embedding(config.cycle + 1, config.width, padding_idx=0)
            nn.init.zeros_(self.slots.weight)

    def embed(self, ids: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings, plus the slot embedding where the model has one and slots are given."""
        x = self.tokens(ids)
        return x if slots is None or not self.config.cycle else x + self.slots(slots)

    def token_tables(self) -> list[nn.Parameter]:
        """The weights with one row per token (input embedding, output head)."""
        return [self.tokens.weight, self.head.weight]

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor | None = None, cache: Cache | None = None,
                positions: torch.Tensor | None = None):
        """(hidden states, logits, new cache) for (batch, length, width) embeddings; the
        rotary ``positions`` (batch, length) are used where the config asks for them."""
        x, new_cache = embeds, []
        positions = positions if self.config.stream_positions else None
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, mask, None if cache is None else cache[i], positions)
            new_cache.append(layer_cache)
        hidden = self.norm(x)
        return hidden, self.head(hidden), new_cache


class HuggingFaceThinker(nn.Module):
    """Any Hugging Face causal LM as the Thinker: a folder with weights is loaded as it is,
    a folder with only ``config.json`` starts from random weights at the data's vocabulary
    size (how the tests run it offline). ``lora_rank`` wraps it in ``peft`` LoRA adapters."""

    def __init__(self, path: str, vocab_size: int, lora_rank: int = 0) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModelForCausalLM

        self.pretrained = self.has_weights(path)
        if self.pretrained:
            model = AutoModelForCausalLM.from_pretrained(path)
            if model.get_input_embeddings().num_embeddings < vocab_size:
                model.resize_token_embeddings(vocab_size)
        else:
            config = AutoConfig.from_pretrained(path)
            config.vocab_size = vocab_size
            config.tie_word_embeddings = False
            model = AutoModelForCausalLM.from_config(config)
        if lora_rank:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank,
                                                     target_modules="all-linear"))
        self.model, self.lora = model, bool(lora_rank)
        self.width = model.config.hidden_size

    def requires_grad_(self, requires_grad: bool = True) -> HuggingFaceThinker:
        """With LoRA, training the Thinker trains its adapters only."""
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(requires_grad and (not self.lora or "lora_" in name))
        return self

    @staticmethod
    def has_weights(path: str) -> bool:
        return any((Path(path) / name).exists() for name in
                   ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"))

    def embed(self, ids: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def token_tables(self) -> list[nn.Parameter]:
        return [self.model.get_input_embeddings().weight, self.model.get_output_embeddings().weight]

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor | None = None, cache: Cache | None = None,
                positions: torch.Tensor | None = None):
        from transformers import DynamicCache

        out = self.model(inputs_embeds=embeds, attention_mask=None if mask is None else mask.long(),
                         past_key_values=cache if cache is not None else DynamicCache(),
                         use_cache=True, output_hidden_states=True)
        return out.hidden_states[-1], out.logits, out.past_key_values


class AudioEncoder(nn.Module):
    """Log-mel frames, subsampled 8x by three strided convolutions, then a transformer."""

    STRIDE = 8

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        width = config.width
        self.convs = nn.Sequential(
            nn.Conv1d(config.n_mels, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1), nn.GELU())
        self.blocks = nn.ModuleList(Block(width, config.heads, causal=False) for _ in range(config.layers))
        self.norm = RMSNorm(width)

    def forward(self, features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode (batch, frames, n_mels) padded features; returns the encoded frames and
        which of them hold audio."""
        x = self.convs(features.transpose(1, 2)).transpose(1, 2)
        lengths = (frames + self.STRIDE - 1) // self.STRIDE
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.norm(x), mask


class Adapter(nn.Module):
    """Maps encoded audio frames into the Thinker's embedding space."""

    def __init__(self, audio_width: int, thinker_width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(audio_width, thinker_width), nn.GELU(),
                                 nn.Linear(thinker_width, thinker_width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Talker(nn.Module):
    """Mel frames for each response token, from the Thinker's hidden states there; every
    other position reaches it as a learned pad, as the paper's Talker sees reasoning."""

    def __init__(self, config: TalkerConfig, thinker_width: int) -> None:
        super().__init__()
        self.config = config
        self.pad = nn.Parameter(torch.zeros(thinker_width))
        self.project = nn.Linear(thinker_width, config.width)
        self.blocks = nn.ModuleList(Block(config.width, config.heads) for _ in range(config.layers))
        self.norm = RMSNorm(config.width)
        self.frames = nn.Linear(config.width, config.frames_per_token * config.n_mels)

    def forward(self, hidden: torch.Tensor, speaking: torch.Tensor) -> torch.Tensor:
        """(batch, length, frames_per_token, n_mels) for hidden states and a response mask."""
        x = torch.where(speaking[..., None], hidden, self.pad.to(hidden.dtype))
        x = self.project(x)
        for block in self.blocks:
            x, _ = block(x)
        out = self.frames(self.norm(x))
        return out.view(*out.shape[:2], self.config.frames_per_token, self.config.n_mels)


class SpeechModel(nn.Module):
    """The parts the five stages train, by name: ``thinker``, ``audio_encoder``,
    ``adapter``, ``talker``."""

    def __init__(self, thinker: nn.Module, audio: AudioConfig, talker: TalkerConfig) -> None:
        super().__init__()
        self.thinker = thinker
        self.audio_encoder = AudioEncoder(audio)
        self.adapter = Adapter(audio.width, thinker.width)
        self.talker = Talker(talker, thinker.width)

    def hear(self, features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Question audio as Thinker embeddings, and which of them hold audio."""
        encoded, mask = self.audio_encoder(features, frames)
        return self.adapter(encoded), mask
