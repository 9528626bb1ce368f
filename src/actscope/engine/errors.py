"""Errors that name the problem and the fix.

Every error actscope raises on bad input derives from :class:`ActscopeError`, a
``ValueError``, so callers can catch one type. The widget shows the same message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ActscopeError(ValueError):
    """Base class of the errors actscope raises on bad input."""


class Stop(Exception):  # noqa: N818 - a signal, not an error
    """A signal that ends actscope's work on purpose (a job the user cancelled): a probe or
    a fake pass that meets one passes it on, never taking it for a model that cannot run."""


class LayerNotFoundError(ActscopeError, KeyError):
    """A layer name that is not in the model."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.suggestions = closest(name, known)
        hint = (
            f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else " Call actscope.list_layers(model, example) to see the names."
        )
        super().__init__(f"No layer named {name!r} in the model.{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class LayerOutputError(ActscopeError):
    """A layer whose output holds no tensor, or an output path that does not exist."""


class InputError(ActscopeError):
    """Inputs that actscope cannot feed to the model (empty, mixed shapes, no tokenizer...)."""


class ForwardError(ActscopeError):
    """The model's forward pass raised; the message names the input and the failing module."""


class NoTopPredictionError(ActscopeError):
    """Saliency's default target on a model whose output has no single top prediction
    (an encoder's hidden states): a target must be given."""


class IndexFileError(ActscopeError):
    """A file that is not an activation index, or one made for other layers."""


def closest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``name``: difflib ratio first, then shared suffixes."""
    known = list(known)
    matches = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    if not matches:
        tail = name.rsplit(".", 1)[-1]
        matches = [k for k in known if k.endswith("." + tail) or k == tail][:n]
    return matches
