"""Train actscope's tiny language-model demo: a 2-layer GPT-2 on Python's own text and code.

The corpus is only what ships with Python: the standard library's source files (code,
comments and docstrings, tests skipped), the reference topics of ``pydoc_data.topics`` and the
licence text. Files are read in sorted order under a fixed character budget and split by name
into training and held-out documents, so the held-out text is never seen in training.

The run is seeded and deterministic: a byte-level BPE tokenizer (``tokenizers``), then a
``transformers.GPT2LMHeadModel`` trained with AdamW (warmup, cosine decay) on 2 CPU threads.
It writes ``model.safetensors`` (float16), ``config.json``, the tokenizer files and
``train_log.json`` into ``--out``::

    .venv/bin/python scripts/train_tiny_lm.py            # writes src/actscope/demo/tiny_lm/
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys
import sysconfig
import time
import zlib
from typing import Any

import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "actscope" / "demo" / "tiny_lm"
EOS = "<|endoftext|>"
VOCAB_SIZE = 2048
SEQ_LEN = 256
MAX_FILE_CHARS = 12_000
"""Each source file contributes at most its first 12,000 characters (cut at a line end)."""
MAX_CHARS = 4_500_000
"""The whole corpus (training and held-out) stops at this many characters."""
HELD_OUT_EVERY = 20
"""A document is held out when the CRC-32 of its name is divisible by this (about 5 %)."""
SKIP_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "encodings", "__pycache__", "turtledemo",
     "__phello__", "pydoc_data"}
)  # fmt: skip
"""Tests, the near-duplicate codec tables and pydoc's generated topics module (read as data)."""


# --------------------------------------------------------------------------- corpus


def documents() -> list[tuple[str, str]]:
    """``(name, text)`` for every corpus document in a fixed order, within the character budget.

    Standard-library ``*.py`` files first (sorted paths), then the pydoc topics (sorted keys),
    then the licence text.
    """
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    docs: list[tuple[str, str]] = []
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        if SKIP_DIRS.intersection(rel.parts[:-1]) or rel.name.startswith("_sysconfigdata"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        docs.append((f"stdlib/{rel.as_posix()}", _head(text, MAX_FILE_CHARS)))
    from pydoc_data import topics

    for key in sorted(topics.topics):
        docs.append((f"pydoc_data.topics/{key}", topics.topics[key]))
    licence = stdlib / "LICENSE.txt"
    if licence.exists():
        docs.append(("stdlib/LICENSE.txt", licence.read_text(encoding="utf-8")))
    out: list[tuple[str, str]] = []
    total = 0
    for name, text in docs:
        text = text.strip()
        if not text:
            continue
        if total + len(text) > MAX_CHARS:
            break
        out.append((name, text))
        total += len(text)
    return out


def _head(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > 0 else limit]


def is_held_out(name: str) -> bool:
    """Whether the document ``name`` belongs to the held-out split (decided by name alone)."""
    return zlib.crc32(name.encode()) % HELD_OUT_EVERY == 0


def split_corpus() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(train, held_out)`` documents: disjoint by name, each in corpus order."""
    docs = documents()
    return (
        [d for d in docs if not is_held_out(d[0])],
        [d for d in docs if is_held_out(d[0])],
    )


# --------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` (``<|endoftext|>`` is id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def wrap_tokenizer(tokenizer_file: str | pathlib.Path) -> Any:
    """The ``transformers.PreTrainedTokenizerFast`` for a saved ``tokenizer.json``."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        padding_side="right",
        model_max_length=SEQ_LEN,
    )


def encode_docs(tokenizer: Any, docs: list[tuple[str, str]]) -> torch.Tensor:
    """All documents as one token stream, each followed by ``<|endoftext|>``."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    ids: list[int] = []
    for enc in tokenizer.backend_tokenizer.encode_batch([text for _, text in docs]):
        ids.extend(enc.ids)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def unigram_loss(train_ids: torch.Tensor, eval_ids: torch.Tensor, vocab_size: int) -> float:
    """Cross-entropy (nats) on ``eval_ids`` of the add-one-smoothed unigram of ``train_ids``."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    logp = counts.log() - counts.sum().log()
    return float(-logp[eval_ids].mean())


# --------------------------------------------------------------------------- model


def model_config(vocab_size: int, eos_id: int, init_range: float = 0.08) -> Any:
    """The tiny GPT-2: 2 layers (attention and MLP), 128 wide, 4 heads, 256 positions.

    The initial weights are wider than GPT-2's 0.02 (about 1/sqrt(128)): at 0.02 the induction
    circuit, a product of several near-zero matrices, sits on a plateau far longer than the
    CPU budget allows.
    """
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=SEQ_LEN,
        n_embd=128,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=True,
        initializer_range=init_range,
    )


@torch.no_grad()
def eval_loss(model: Any, ids: torch.Tensor, seq_len: int = SEQ_LEN, batch: int = 16) -> float:
    """Mean next-token loss (nats) over non-overlapping ``seq_len`` windows of ``ids``."""
    n = (len(ids) - 1) // seq_len
    windows = ids[: n * seq_len + 1]
    total, count = 0.0, 0
    for start in range(0, n, batch):
        idx = torch.arange(start, min(start + batch, n))
        x = torch.stack([windows[i * seq_len : (i + 1) * seq_len] for i in idx])
        y = torch.stack([windows[i * seq_len + 1 : (i + 1) * seq_len + 1] for i in idx])
        logits = model(x).logits.float()
        total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    return total / count


def repeated_random_tokens(
    n_seq: int, length: int, vocab_size: int, n_special: int, seed: int
) -> torch.Tensor:
    """``(n_seq, 2 * length)`` token ids: uniform non-special tokens, each row repeated twice."""
    gen = torch.Generator().manual_seed(seed)
    half = torch.randint(n_special, vocab_size, (n_seq, length), generator=gen)
    return torch.cat([half, half], dim=1)


@torch.no_grad()
def induction_stats(model: Any, tokens: torch.Tensor) -> dict[str, Any]:
    """Loss on each copy of repeated sequences and every head's induction score.

    The score of a head is its attention from position ``n + i`` of the second copy to position
    ``i + 1`` (the token after the previous occurrence), averaged over second-copy queries.
    The model must compute eager attention (``attn_implementation="eager"``) to return weights.
    """
    n = tokens.shape[1] // 2
    out = model(tokens, output_attentions=True)
    logp = out.logits.float().log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]  # nll[:, t] predicts t + 1
    first = float(nll[:, : n - 1].mean())  # targets 1 .. n-1
    second = float(nll[:, n:].mean())  # targets n+1 .. 2n-1
    queries = torch.arange(n, 2 * n)
    scores = [
        att[:, :, queries, queries - n + 1].mean(dim=(0, 2)).tolist() for att in out.attentions
    ]
    return {"first_copy_loss": first, "second_copy_loss": second, "head_scores": scores}


# --------------------------------------------------------------------------- training


def lr_at(step: int, steps: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warmup to ``peak``, then cosine decay to ``floor * peak`` at ``steps``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def repeat_rows(
    gen: torch.Generator,
    rows: int,
    length: int,
    vocab_size: int,
    n_special: int,
    text_ids: torch.Tensor,
    text_frac: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, position_ids)``: rows in which a segment of 4 to ``length // 2`` tokens repeats.

    The first ``text_frac`` of the rows take the segment from the training text, the rest
    draw it uniformly from the non-special tokens. Each row starts at a random position so that
    every position embedding sees repeats. Predicting a repeat needs the induction circuit.
    """
    out = torch.empty(rows, length, dtype=torch.long)
    n_text = round(rows * text_frac)
    for r in range(rows):
        seg_len = int(torch.randint(4, length // 2 + 1, (1,), generator=gen))
        if r < n_text:
            start = int(torch.randint(0, len(text_ids) - seg_len, (1,), generator=gen))
            seg = text_ids[start : start + seg_len]
        else:
            seg = torch.randint(n_special, vocab_size, (seg_len,), generator=gen)
        out[r] = seg.repeat(-(-length // seg_len))[:length]
    offsets = torch.randint(0, SEQ_LEN - length + 1, (rows, 1), generator=gen)
    return out, offsets + torch.arange(length)


_POINT_KEYS = ("step", "loss", "lr", "seconds")


def _probe(model: Any, tokens: torch.Tensor) -> dict[str, float]:
    """Induction measurements during training (eager attention, eval mode, then back)."""
    model.eval()
    model.set_attn_implementation("eager")
    stats = induction_stats(model, tokens)
    model.set_attn_implementation("sdpa")
    model.train()
    return {
        "rep_first": stats["first_copy_loss"],
        "rep_second": stats["second_copy_loss"],
        "ind_max": max(max(layer) for layer in stats["head_scores"]),
    }


def main(argv: list[str] | None = None) -> None:
    """Build the corpus and tokenizer, train, evaluate and save into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1800, help="optimizer steps (the schedule)")
    parser.add_argument("--minutes", type=float, default=12.0, help="stop early past this budget")
    parser.add_argument("--batch", type=int, default=8, help="text windows of 256 tokens a step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--repeat-rows", type=int, default=32, help="repeat rows a step (0: none)")
    parser.add_argument("--repeat-len", type=int, default=64, help="tokens per repeat row")
    parser.add_argument(
        "--repeat-text-frac", type=float, default=0.5, help="repeat rows cut from the text"
    )
    parser.add_argument("--init-range", type=float, default=0.08, help="weight init std")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument(
        "--probe-every", type=int, default=100, help="log induction scores every this many steps"
    )
    args = parser.parse_args(argv)

    from transformers import GPT2LMHeadModel

    t0 = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)

    train_docs, held_docs = split_corpus()
    train_chars = sum(len(t) for _, t in train_docs)
    held_chars = sum(len(t) for _, t in held_docs)
    print(f"corpus: {len(train_docs)} training docs ({train_chars:,} chars), "
          f"{len(held_docs)} held-out ({held_chars:,} chars)", flush=True)  # fmt: skip

    backend = train_tokenizer([t for _, t in train_docs])
    backend.save(str(args.out / "tokenizer.json"))
    tokenizer = wrap_tokenizer(args.out / "tokenizer.json")
    tokenizer.save_pretrained(str(args.out))
    # Name the class that every transformers version knows (4.x has no TokenizersBackend).
    tok_config_path = args.out / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config_path.write_text(json.dumps(tok_config, indent=2) + "\n")
    vocab_size = backend.get_vocab_size()
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    n_special = 1
    train_ids = encode_docs(tokenizer, train_docs)
    held_ids = encode_docs(tokenizer, held_docs)
    print(f"tokens: {len(train_ids):,} training, {len(held_ids):,} held-out; "
          f"vocab {vocab_size} ({time.time() - t0:.0f}s)", flush=True)  # fmt: skip

    config = model_config(vocab_size, eos_id, args.init_range)
    model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1
    )

    # Deterministic data order: a seeded permutation of fixed windows, one per epoch.
    n_windows = (len(train_ids) - 1) // SEQ_LEN
    data_gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(n_windows, generator=data_gen)
    cursor, epoch = 0, 0

    curve: list[dict[str, float]] = []
    probe = repeated_random_tokens(8, 40, vocab_size, n_special, seed=99)
    train_start = time.time()
    steps_done = 0
    stopped_early = False
    model.train()
    for step in range(args.steps):
        if time.time() - t0 > args.minutes * 60:
            stopped_early = True
            break
        if cursor + args.batch > n_windows:
            order = torch.randperm(n_windows, generator=data_gen)
            cursor, epoch = 0, epoch + 1
        idx = order[cursor : cursor + args.batch].tolist()
        cursor += args.batch
        x = torch.stack([train_ids[i * SEQ_LEN : (i + 1) * SEQ_LEN + 1] for i in idx])
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = model(x[:, :-1]).logits
        loss_sum = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="sum")
        count = x[:, 1:].numel()
        if args.repeat_rows:
            rep, pos = repeat_rows(
                data_gen, args.repeat_rows, args.repeat_len, vocab_size, n_special,
                train_ids, args.repeat_text_frac,
            )  # fmt: skip
            rep_logits = model(rep[:, :-1], position_ids=pos[:, :-1]).logits
            loss_sum = loss_sum + F.cross_entropy(
                rep_logits.flatten(0, 1), rep[:, 1:].flatten(), reduction="sum"
            )
            count += rep[:, 1:].numel()
        loss = loss_sum / count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps_done = step + 1
        if step % args.log_every == 0 or steps_done == args.steps:
            elapsed = time.time() - train_start
            point: dict[str, float] = {
                "step": steps_done, "loss": loss.item(), "lr": lr, "seconds": elapsed
            }  # fmt: skip
            if args.probe_every and (step % args.probe_every == 0 or steps_done == args.steps):
                point |= _probe(model, probe)
            curve.append(point)
            extra = "".join(f"  {k} {v:.3f}" for k, v in point.items() if k not in _POINT_KEYS)
            print(f"step {steps_done:5d}  loss {loss.item():.3f}  lr {lr:.2e}  "
                  f"{elapsed:.0f}s{extra}", flush=True)  # fmt: skip
    train_seconds = time.time() - train_start
    model.eval()

    # Save as float16 and evaluate the saved weights, as users load them.
    model.half().save_pretrained(str(args.out), safe_serialization=True)
    (args.out / "model.safetensors").chmod(0o644)
    loaded = GPT2LMHeadModel.from_pretrained(
        str(args.out), dtype=torch.float32, attn_implementation="eager"
    ).eval()
    held_loss = eval_loss(loaded, held_ids)
    unigram = unigram_loss(train_ids, held_ids, vocab_size)
    rand = repeated_random_tokens(32, 40, vocab_size, n_special, seed=1234)
    ind = induction_stats(loaded, rand)
    best = max(
        ((layer, head) for layer in range(config.n_layer) for head in range(config.n_head)),
        key=lambda lh: ind["head_scores"][lh[0]][lh[1]],
    )
    print(f"held-out loss {held_loss:.3f} (unigram {unigram:.3f}); induction: first copy "
          f"{ind['first_copy_loss']:.3f}, second {ind['second_copy_loss']:.3f}; best head "
          f"L{best[0]}H{best[1]} {ind['head_scores'][best[0]][best[1]]:.3f}", flush=True)  # fmt: skip

    log = {
        "command": "python scripts/train_tiny_lm.py " + " ".join(argv or sys.argv[1:]),
        "seed": args.seed,
        "torch_version": torch.__version__,
        "transformers_version": _version("transformers"),
        "tokenizers_version": _version("tokenizers"),
        "python_version": sys.version.split()[0],
        "model_config": {
            k: getattr(config, k)
            for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner")
        }
        | {"n_params": n_params, "tied_embeddings": True, "saved_dtype": "float16"},
        "training": {
            "steps_planned": args.steps,
            "steps": steps_done,
            "stopped_early_by_minutes": stopped_early,
            "epochs_started": epoch + 1,
            "text_windows_per_step": args.batch,
            "seq_len": SEQ_LEN,
            "text_tokens_seen": steps_done * args.batch * SEQ_LEN,
            "repeat_rows_per_step": args.repeat_rows,
            "repeat_row_len": args.repeat_len,
            "repeat_rows_from_text": args.repeat_text_frac,
            "repeat_tokens_seen": steps_done * args.repeat_rows * args.repeat_len,
            "optimizer": "AdamW(betas=(0.9, 0.95), weight_decay=0.1), grad clip 1.0",
            "lr_peak": args.lr,
            "warmup_steps": args.warmup,
            "schedule": "linear warmup, cosine decay to 0.1 x peak",
            "init_range": args.init_range,
            "repeat_rows": "each step adds short rows in which a segment of 4 to "
            "repeat_row_len / 2 tokens repeats to fill the row, at a random start position; "
            "part cut from the training text, the rest uniform random non-special tokens "
            "(synthetic). Text alone forms no induction head within a CPU budget.",
            "threads": torch.get_num_threads(),
        },
        "corpus": {
            "sources": "stdlib *.py (tests, encodings, turtledemo skipped; first "
            f"{MAX_FILE_CHARS} chars each), pydoc_data.topics, stdlib LICENSE.txt",
            "max_chars": MAX_CHARS,
            "held_out_rule": f"zlib.crc32(name) % {HELD_OUT_EVERY} == 0",
            "train_docs": len(train_docs),
            "held_out_docs": len(held_docs),
            "train_chars": train_chars,
            "held_out_chars": held_chars,
            "train_tokens": len(train_ids),
            "held_out_tokens": len(held_ids),
            "held_out_names": [name for name, _ in held_docs],
        },
        "loss_curve": curve,
        "final_held_out_loss": held_loss,
        "unigram_held_out_loss": unigram,
        "induction": {
            "sequences": "32 rows of 40 uniform non-special tokens, repeated twice (seed 1234)",
            "first_copy_loss": ind["first_copy_loss"],
            "second_copy_loss": ind["second_copy_loss"],
            "head_scores": ind["head_scores"],
            "best_head": {"layer": best[0], "head": best[1]},
        },
        "train_seconds": train_seconds,
        "total_seconds": time.time() - t0,
    }
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
