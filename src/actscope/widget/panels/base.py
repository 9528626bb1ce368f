"""What every panel of the explorer shares.

A panel is a ``traitlets.HasTraits`` mixin of :class:`~actscope.widget.explorer.Explorer`:
it declares its own synced traits next to the observers that fill them, the job that
computes them, the encoder that turns results into a wire blob, and the key that says what
a blob answers. The explorer provides the services below (the session, the jobs, the
status banner); a panel names the custom messages it answers in ``messages`` and adds its
precomputed blobs to a snapshot in :meth:`Panel.snapshot_entries`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from .. import wire
from ..contract import StatusPlace, edits_tag
from ..display import message

if TYPE_CHECKING:
    from ..jobs import Jobs
    from ..session import Session


@dataclass(frozen=True)
class SnapshotPlan:
    """What ``Explorer.snapshot`` was asked to include (each panel reads its part)."""

    layers: list[str]
    """The layers whose views to include (default: every layer with a tensor output)."""
    asked_layers: list[str] | None
    """The layers as the user asked for them (``None``: not given)."""
    inputs: list[int]
    units: list[int]
    saliency: list[str]
    precision: str
    max_view_values: int
    top_k: int
    window_bytes: int = 0
    """Bytes left under the snapshot's limit for the further windows of long views (their
    first window is in the estimate): saved in order while they fit."""


class Panel(traitlets.HasTraits):
    """Base of the explorer's panels (a mixin: the explorer provides the services)."""

    messages: ClassVar[dict[str, str]] = {}
    """Custom message ``type`` → the name of the method that answers it."""

    if TYPE_CHECKING:
        session: Session
        _jobs: Jobs
        _from_front: bool
        layer: str
        input_index: int
        unit: int | None
        position: int | None
        inputs_info: list[Any]
        thumbs: bytes
        edits: list[Any]
        edit_view: str

        def _show_error(self, exc: BaseException, where: StatusPlace) -> None: ...

        def send(self, content: Any, buffers: Sequence[Any] | None = None) -> None: ...

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:  # noqa: ARG002
        """``(snapshot key, blob)`` pairs of this panel for a snapshot (default: none)."""
        return []

    def _checked(self, value: Any, test: Callable[[], object]) -> Any:
        """:func:`check`, and show the error in the widget when set from Python
        (``Explorer.set_state`` shows errors itself, after traitlets rolled the change back)."""
        try:
            return check(value, test)
        except traitlets.TraitError as exc:
            if not self._cross_validation_lock:
                self._show_error(exc, "input")
            raise

    def _edit_tag(self, *, with_view: bool = False) -> str:
        """The tag (``edits_tag``) of a blob computed now, with the active edits;
        ``with_view`` for a view that follows ``edit_view`` (the layer view)."""
        edits = getattr(self, "edits", [])
        return edits_tag(edits, getattr(self, "edit_view", "edited") if with_view else "edited")

    @staticmethod
    def _tagged(blob: bytes, tag: str) -> bytes:
        """``blob`` marked with the edits it was computed with (unchanged for none)."""
        return wire.with_meta(blob, edits=tag) if tag else blob

    def _ready(self) -> bool:
        """Whether the explorer is set up (observers fire during ``__init__`` too)."""
        return "session" in self.__dict__


class _TraitActscopeError(traitlets.TraitError):
    """Marker base of the errors :func:`as_trait_error` makes."""


_DUALS: dict[type[BaseException], type[BaseException]] = {}


def _dual(cls: type[BaseException]) -> type[BaseException]:
    if cls not in _DUALS:
        _DUALS[cls] = type(cls.__name__, (cls, _TraitActscopeError), {"__module__": cls.__module__})
    return _DUALS[cls]


def as_trait_error(exc: BaseException) -> BaseException:
    """``exc`` as an instance of both its own class and ``traitlets.TraitError``.

    traitlets rolls a trait back (in ``set_state`` and ``hold_trait_notifications``) only
    for a ``TraitError``; users catch actscope's own classes (``LayerNotFoundError``...).
    The copy is both, with the same message.
    """
    if isinstance(exc, traitlets.TraitError):
        return exc
    dual = _dual(type(exc))
    copy = dual.__new__(dual)
    copy.args = exc.args
    copy.__dict__.update(exc.__dict__)
    copy.__cause__ = exc.__cause__
    return copy


def check(value: Any, test: Callable[[], object]) -> Any:
    """Run ``test`` (which raises an actscope error on a bad value); return ``value``."""
    try:
        test()
    except traitlets.TraitError:
        raise
    except Exception as exc:
        raise as_trait_error(exc) from None
    return value


__all__ = ["Panel", "SnapshotPlan", "as_trait_error", "check", "message"]
