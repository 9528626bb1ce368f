"""The shipped tiny GPT-2 (actscope.demo.lm) loads offline and has learned real structure.

Every number is recomputed here from the shipped weights: held-out loss against unigram
baselines on text the model never saw, and what it makes of repeated random tokens. (It has
not formed an induction head: within the training script's CPU budget no head attends from
a repeated token to the one after its first occurrence; the last test measures that, so
that a retrained model which does form one is noticed.)
"""

from __future__ import annotations

import importlib.util
import json
import math
import pathlib

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from actscope.demo.lm import PROMPTS, WEIGHTS_DIR, load_tiny_lm  # noqa: E402

pytestmark = pytest.mark.real_model  # loads the shipped weights: not in the quick tier

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train_tiny_lm.py"

N_REPEAT = 40
"""Length of each copy in the repeated random sequences."""


@pytest.fixture(scope="module")
def lm():
    return load_tiny_lm()


@pytest.fixture(scope="module")
def eager_model():
    model, _ = load_tiny_lm(attn_implementation="eager")
    return model


@pytest.fixture(scope="module")
def script():
    """The training script as a module, for its corpus split."""
    spec = importlib.util.spec_from_file_location("train_tiny_lm", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def repeated(lm):
    """(32, 2 * N_REPEAT) uniform non-special token ids, each row two identical copies."""
    _, tokenizer = lm
    special = set(tokenizer.all_special_ids)
    allowed = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    gen = torch.Generator().manual_seed(2024)
    half = allowed[torch.randint(len(allowed), (32, N_REPEAT), generator=gen)]
    return torch.cat([half, half], dim=1)


def test_loads_like_a_hugging_face_model(lm):
    model, tokenizer = lm
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    assert not model.training
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.config.n_layer == 2 and model.config.n_head == 4 and model.config.n_embd == 128
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied
    assert all(hasattr(block, "mlp") for block in model.transformer.h)

    plain = transformers.GPT2LMHeadModel.from_pretrained(str(WEIGHTS_DIR), dtype=torch.float32)
    ids = tokenizer(PROMPTS[2], return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, plain.eval()(ids).logits)


def test_tokenizer_round_trips_and_pads_with_eos(lm):
    _, tokenizer = lm
    assert len(tokenizer) == 2048
    assert tokenizer.eos_token == tokenizer.pad_token == tokenizer.bos_token == "<|endoftext|>"
    assert tokenizer.padding_side == "right"
    for prompt in PROMPTS:
        ids = tokenizer(prompt).input_ids
        assert tokenizer.decode(ids) == prompt
        assert len(ids) < len(prompt)  # BPE merges: fewer tokens than characters
    batch = tokenizer(PROMPTS[:2], padding=True, return_tensors="pt")
    assert batch.input_ids[0, -1] == tokenizer.eos_token_id  # the shorter row pads on the right
    auto = transformers.AutoTokenizer.from_pretrained(str(WEIGHTS_DIR))
    assert auto(PROMPTS[3]).input_ids == tokenizer(PROMPTS[3]).input_ids


def test_shipped_files_are_small_and_float16():
    from safetensors import safe_open

    weights = WEIGHTS_DIR / "model.safetensors"
    assert weights.stat().st_size <= 2 * 1024 * 1024
    assert sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir()) <= 2.5 * 1024 * 1024
    with safe_open(str(weights), framework="pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}  # noqa: SIM118


def test_held_out_loss_beats_unigram(lm, script):
    model, tokenizer = lm
    train_docs, held_docs = script.split_corpus()
    train_names = {name for name, _ in train_docs}
    train_texts = {text for _, text in train_docs}
    assert held_docs and not train_names & {name for name, _ in held_docs}
    assert not train_texts & {text for _, text in held_docs}

    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for _, text in held_docs:
        ids += [*tokenizer(text).input_ids, eos]
    n_win = 48
    seq = 256
    assert len(ids) > n_win * seq + 1
    tokens = torch.tensor(ids[: n_win * seq + 1])
    x = tokens[:-1].view(n_win, seq)
    y = tokens[1:].view(n_win, seq)
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 16]).logits for i in range(0, n_win, 16)])
    loss = float(F.cross_entropy(logits.flatten(0, 1), y.flatten()))

    # The best any unigram model can do on these tokens: their own empirical entropy.
    counts = torch.bincount(y.flatten(), minlength=len(tokenizer)).double()
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * p.log()).sum())
    # The training-set unigram with add-one smoothing (recomputed from the training split).
    train_ids = torch.tensor(
        [
            i
            for enc in tokenizer.backend_tokenizer.encode_batch(sorted(train_texts))
            for i in enc.ids
        ]
    )
    smoothed = torch.bincount(train_ids, minlength=len(tokenizer)).double() + 1
    unigram = float(-(smoothed.log() - smoothed.sum().log())[y.flatten()].mean())

    assert entropy < unigram
    assert loss < entropy - 1.5, (loss, entropy, unigram)
    assert loss < unigram - 2.0, (loss, unigram)
    log = json.loads((WEIGHTS_DIR / "train_log.json").read_text())
    assert log["final_held_out_loss"] == pytest.approx(loss, abs=0.25)
    assert log["unigram_held_out_loss"] == pytest.approx(unigram, abs=0.25)


def test_the_second_copy_of_random_tokens_is_easier_than_the_first(lm, repeated):
    model, _ = lm
    n = N_REPEAT
    with torch.no_grad():
        logp = model(repeated).logits.log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, repeated[:, 1:, None])[..., 0]  # nll[:, t] predicts t + 1
    first = float(nll[:, : n - 1].mean())
    second = float(nll[:, n:].mean())
    assert first > math.log(100)  # random tokens: nothing to predict the first time
    assert second < first - 1.0, (first, second)  # tokens seen in context are likelier
    log = json.loads((WEIGHTS_DIR / "train_log.json").read_text())["induction"]
    assert log["first_copy_loss"] == pytest.approx(first, abs=0.3)
    assert log["second_copy_loss"] == pytest.approx(second, abs=0.3)


def test_the_induction_scores_are_as_the_training_log_says(eager_model, repeated):
    n = N_REPEAT
    with torch.no_grad():
        attentions = eager_model(repeated, output_attentions=True).attentions
    queries = torch.arange(n, 2 * n)
    # Attention from each second-copy position to the token after its first occurrence.
    scores = torch.stack([a[:, :, queries, queries - n + 1].mean(dim=(0, 2)) for a in attentions])
    assert scores.shape == (2, 4)
    logged = torch.tensor(
        json.loads((WEIGHTS_DIR / "train_log.json").read_text())["induction"]["head_scores"]
    )
    torch.testing.assert_close(scores, logged, atol=0.02, rtol=0)
    # No induction head yet: every head's score is near uniform attention over the context.
    assert float(scores.max()) < 0.1, scores
