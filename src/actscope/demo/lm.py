"""The built-in language-model demo: a tiny 2-layer GPT-2 trained on Python's own text and code.

The weights ship with the package (``tiny_lm/``, about 1.4 MB of float16 safetensors) and load
offline like any Hugging Face model. They come from one seeded run of actscope's training
script on the standard library's source files and ``pydoc_data.topics`` (nothing downloaded);
``tiny_lm/train_log.json`` records the corpus, the loss curve and the measurements::

    python scripts/train_tiny_lm.py          # retrain and overwrite src/actscope/demo/tiny_lm/

The model is a ``transformers.GPT2LMHeadModel`` (2 layers with attention and MLP, 128 wide,
4 heads, 256 positions, tied embeddings) with a 2,048-token byte-level BPE tokenizer. Its
held-out loss is 3.9 nats a token (a unigram model: 6.4). It has not formed induction heads:
in the script's CPU budget (10 minutes on 2 cores) it only learns that tokens seen in the
context are likelier (a repeated random sequence's second copy costs 7.4 nats a token, the
first 8.8); a model trained longer, or a real one, shows them in the attention panel.
Install with ``pip install actscope[text]``.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

WEIGHTS_DIR = pathlib.Path(__file__).parent / "tiny_lm"
"""The folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``."""

EOS = "<|endoftext|>"

PROMPTS = [
    "The return value of the function is",
    "Return a new list containing the items of the sequence",
    "def __init__(self, name, value):\n    self.name = name\n    self.value =",
    "import os\nimport sys\n\n\ndef main():\n    path = os.path.join(",
    "for i in range(len(items)):\n    if items[i] is None:\n        items[i] =",
    "The parse_header function calls parse_header_value, and parse_header",
    "class Counter:\n    def increment(self):\n        self.count += 1\n\n    def reset(self):\n",
    "Raise a ValueError if the argument is not a positive integer.",
]
"""Short English and Python prompts; the sixth repeats an identifier."""


def load_tiny_lm(*, attn_implementation: str | None = None) -> tuple[Any, Any]:
    """The tiny GPT-2 (``GPT2LMHeadModel``, eval mode, float32, CPU) and its tokenizer, offline.

    Pass ``attn_implementation="eager"`` to get attention weights from
    ``output_attentions=True``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "The language-model demo needs transformers: pip install 'actscope[text]'"
        ) from exc
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    model = GPT2LMHeadModel.from_pretrained(str(WEIGHTS_DIR), **kwargs)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_file=str(WEIGHTS_DIR / "tokenizer.json"),
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        padding_side="right",
        model_max_length=model.config.n_positions,
    )
    module: Any = model
    return module.to(torch.device("cpu")).eval(), tokenizer
