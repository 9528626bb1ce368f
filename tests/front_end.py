"""Talking to a widget as its front end does: Jupyter widget protocol messages in, and the
messages the widget sends back recorded (no kernel, no browser)."""

from __future__ import annotations

from typing import Any


class RecordingComm:
    """Stands in for the comm to a front end: keeps every message the widget sends."""

    kernel = True
    comm_id = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], list[Any]]] = []

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append((data, list(buffers or [])))

    def on_msg(self, _callback: Any) -> None:
        pass

    def on_close(self, _callback: Any) -> None:
        pass

    def close(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def custom(self) -> list[tuple[dict[str, Any], list[Any]]]:
        """The custom messages sent: ``(content, buffers)``."""
        return [(d["content"], b) for d, b in self.sent if d.get("method") == "custom"]

    def updates(self) -> list[dict[str, Any]]:
        """The state updates sent."""
        return [d["state"] for d, _ in self.sent if d.get("method") == "update"]


def connect(widget: Any) -> RecordingComm:
    """Give ``widget`` a recording comm, as if a front end had opened it."""
    comm = RecordingComm()
    widget.comm = comm
    return comm


def send(widget: Any, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
    """Deliver a custom message from the front end."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
    )


def update(widget: Any, state: dict[str, Any]) -> None:
    """Deliver a state update from the front end (a user's click)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})
