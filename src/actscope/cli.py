"""``actscope demo``: the explorer on a built-in model, as a standalone page.

The page holds a snapshot: for the digits CNN every layer of the 16 inputs with gradient
and integrated-gradients maps; for MiniLM the six MLP layers of the demo sentences, with
input × gradient token scores for the three strongest neurons of layer 3 on the first
sentence (an encoder has no top prediction to explain; the page says so); for the tiny
language model the residual stream and MLP neurons of both blocks on the demo prompts, with
their predictions, attention, logit lens, the logit effects of the three strongest neurons
of the last MLP and input × gradient maps of the next token.

actscope demo --html actscope-demo.html            # digits CNN
actscope demo --text --html actscope-text.html     # MiniLM on a few sentences
actscope demo --lm --html actscope-lm.html         # the tiny GPT-2 on English and Python
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

LM_LAYERS = [
    "transformer.h.0",
    "transformer.h.0.mlp.act",
    "transformer.h.1",
    "transformer.h.1.mlp.act",
]
"""The tiny LM's layers in its page: each block's output (the residual stream) and neurons."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="actscope", description="Explore neural-network activations."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the explorer on a built-in demo model")
    demo.add_argument("--html", metavar="PATH", required=True, help="write a standalone page here")
    which = demo.add_mutually_exclusive_group()
    which.add_argument(
        "--text", action="store_true", help="MiniLM on text instead of the digits CNN"
    )
    which.add_argument("--lm", action="store_true", help="the tiny GPT-2 language model on prompts")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    explorer = demo_explorer(text=args.text, lm=args.lm)
    # The page needs no kernel: precompute every view a reader can click to.
    if args.lm:
        from .engine.ranking import rank_units

        act = explorer.session.activation(explorer.layer, 0)  # (tokens, neurons)
        units = rank_units(act, unit_axis=1, k=3).units.tolist()
        explorer.snapshot(layers=LM_LAYERS, units=units, saliency=["input_x_gradient"])
    elif args.text:
        from .demo.text import MLP_LAYERS
        from .engine.ranking import rank_units

        # The encoder has no top prediction: explain the layer's strongest neurons instead
        # (the top of the widget's own ranking for the first sentence).
        act = explorer.session.activation(explorer.layer, 0)  # (tokens, neurons)
        units = rank_units(act, unit_axis=1, k=3).units.tolist()
        explorer.snapshot(layers=MLP_LAYERS, units=units, saliency=["input_x_gradient"])
    else:
        explorer.snapshot(saliency=["gradient", "integrated_gradients"])
    path = explorer.to_html(args.html)
    size = path.stat().st_size
    seconds = time.perf_counter() - start
    print(f"wrote {path} ({size / 1e6:.2f} MB) in {seconds:.1f} s; open it in a browser")


def demo_explorer(*, text: bool = False, lm: bool = False):  # type: ignore[no-untyped-def]
    """The explorer the demo shows."""
    from .widget import Explorer

    if lm:
        from .demo.lm import PROMPTS, load_tiny_lm

        model, tokenizer = load_tiny_lm()
        return Explorer(model, PROMPTS, tokenizer=tokenizer, layer="transformer.h.1.mlp.act")
    if text:
        from .demo.text import SENTENCES, load_minilm

        model, tokenizer = load_minilm()
        return Explorer(model, SENTENCES, tokenizer=tokenizer, layer="encoder.layer.3.intermediate")
    from .demo.digits import digits_demo

    model, images, labels = digits_demo(16)
    return Explorer(model, images, labels=labels)


if __name__ == "__main__":
    main(sys.argv[1:])
