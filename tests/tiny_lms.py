"""Small random language models and a word tokenizer, shared by the tests that need them
(offline, from configs; random weights seeded so that every test sees the same model)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

WORDS = ["<pad>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "and"]
"""The word tokenizer's vocabulary (id 0 pads)."""


def quietly(make: Any) -> Any:
    """``make()`` with transformers' notices about random configs silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


def random_gpt2(**overrides: Any) -> Any:
    """A 2-layer, 64-wide GPT-2 over 97 tokens, in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2, n_embd=64, n_head=4, vocab_size=97, n_positions=64, bos_token_id=0,
        eos_token_id=0, **overrides,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def random_llama() -> Any:
    """A 2-layer, 64-wide Llama (grouped-query attention) over 97 tokens, in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        num_hidden_layers=2, hidden_size=64, intermediate_size=96, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=97, bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


def random_texts(n: int, t: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``n`` seeded random token sequences of length ``t`` over :func:`random_gpt2`'s
    vocabulary, each an input dict (the explorer's inputs)."""
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(1, 97, (t,), generator=g)} for _ in range(n)]


def word_tokenizer() -> Any:
    """A Hugging Face tokenizer of whitespace-separated :data:`WORDS`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<pad>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>")


def word_gpt2(seed: int) -> Any:
    """A 2-layer, 32-wide GPT-2 over :data:`WORDS`, seeded, in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=len(WORDS), n_positions=32,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return quietly(lambda: GPT2LMHeadModel(config).eval())


# Fixtures for the modules that use these models, bound there by name (``gpt2 =
# tiny_lms.gpt2``); ``one_thread`` is autouse in every module that binds it.


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread of a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gpt2() -> Any:
    return quietly(random_gpt2)


@pytest.fixture(scope="module")
def llama() -> Any:
    return quietly(random_llama)
