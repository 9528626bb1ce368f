"""Long work started from the widget (mining, slow saliency) without freezing it.

The work runs in a background thread; it reports progress and checks for cancellation
through a :class:`Progress`, so Cancel stops it at its next report (within a second).
Where results go depends on the host:

- a Jupyter kernel (JupyterLab, Notebook 7, VS Code, Colab, Voilà): everything that touches
  the widget is posted back to the kernel's event loop, so traitlets are only ever set on
  the main thread;
- marimo: the thread is a ``marimo.Thread`` (which may talk to marimo's front end) and
  applies results itself; the kernel stays free, so Cancel arrives while the job runs;
- a plain script or a test: work runs synchronously, unless ``background=True`` asks for a
  thread (then ``Jobs.cancel`` and ``Jobs.wait`` work as in a notebook).

Model hooks are thread-bound (see ``engine/hooks.py``), so the explorer's own
forward passes can run while a job holds hooks on the same model.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..engine.errors import Stop

T = TypeVar("T")

PROGRESS_INTERVAL_S = 0.1


class Cancelled(Stop):
    """Raised inside a job's work when the user pressed Cancel (a :class:`Stop`, so that
    layer discovery's probes pass it on)."""


@dataclass
class Progress:
    """Given to a job's work: ``update(done, total, message)`` and ``check()``."""

    post: Callable[[dict[str, Any]], None]
    name: str
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _last: float = 0.0

    def update(self, done: float, total: float | None = None, message: str = "") -> None:
        """Report progress (at most every 0.1 s); raises :class:`Cancelled` when asked to stop."""
        self.check()
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_S and (total is None or done < total):
            return
        self._last = now
        fraction = None if not total else min(1.0, float(done) / float(total))
        self.post({"name": self.name, "state": "running", "progress": fraction, "message": message})

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(f"{self.name} cancelled")

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


@dataclass
class Job(Generic[T]):
    name: str
    progress: Progress
    thread: threading.Thread | None = None


def main_thread_caller() -> Callable[[Callable[[], None]], None] | None:
    """A thread-safe way to run a function on the kernel's event loop, if in a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    loop = getattr(kernel, "io_loop", None)
    if loop is None:
        return None
    add: Callable[[Callable[[], None]], None] = loop.add_callback
    return add


def in_marimo() -> bool:
    """Whether this runs inside a marimo notebook or app (marimo imported and active)."""
    marimo = sys.modules.get("marimo")
    if marimo is None:
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # a marimo without this call, or outside its runtime
        return False


def thread_class() -> type[threading.Thread]:
    """``marimo.Thread`` inside marimo (its threads may reach marimo's front end), else
    ``threading.Thread``."""
    if in_marimo():
        thread: type[threading.Thread] = sys.modules["marimo"].Thread
        return thread
    return threading.Thread


def _ignore(_status: dict[str, Any]) -> None:
    """Where a quiet job's status goes."""


class Jobs:
    """Background jobs of one widget: at most one of each name (saliency, examples, mining)."""

    def __init__(self, on_status: Callable[[dict[str, Any]], None]) -> None:
        self._on_status = on_status
        self._jobs: dict[str, Job[Any]] = {}
        self._lock = threading.Lock()

    def start(
        self,
        name: str,
        work: Callable[[Progress], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
        *,
        background: bool | None = None,
        quiet: bool = False,
    ) -> None:
        """Run ``work`` (in a thread in a kernel or in marimo); then ``done(result)`` or
        ``failed(exc)`` (on the kernel's main thread where there is one). A job of the same
        name still running is cancelled first. A ``quiet`` job (quick work) reports no
        status, so it never hides the state of a slow one (a mining run's "cancelled")."""
        call = main_thread_caller()
        threaded = (call is not None or in_marimo()) if background is None else background
        post = (
            (lambda status: call(lambda: self._on_status(status)))
            if (threaded and call)
            else self._on_status
        )
        if quiet:
            post = _ignore
        progress = Progress(post=post, name=name)
        with self._lock:
            if name in self._jobs:
                self._jobs[name].progress.cancel_event.set()
            job: Job[T] = Job(name=name, progress=progress)
            self._jobs[name] = job

        def finish(outcome: Callable[[], None]) -> None:
            if threaded and call is not None:
                call(outcome)
            else:
                outcome()

        def run() -> None:
            try:
                result = work(progress)
            except BaseException as exc:  # reported to the widget (and the user's callback)
                error = exc
                finish(lambda: self._finish(job, failed, error))
                return
            finish(lambda: self._finish(job, lambda _: done(result), None))

        post({"name": name, "state": "running", "progress": 0.0, "message": "starting"})
        if threaded:
            job.thread = thread_class()(target=run, name=f"actscope-{name}", daemon=True)
            job.thread.start()
        else:
            run()

    def _finish(
        self, job: Job[Any], outcome: Callable[[Any], None], exc: BaseException | None
    ) -> None:
        report = self._on_status if job.progress.post is not _ignore else _ignore
        self._report(job, outcome, exc, report)
        with self._lock:
            if self._jobs.get(job.name) is job:
                del self._jobs[job.name]

    def _report(
        self,
        job: Job[Any],
        outcome: Callable[[Any], None],
        exc: BaseException | None,
        post: Callable[[dict[str, Any]], None],
    ) -> None:
        if isinstance(exc, Cancelled):
            post({"name": job.name, "state": "cancelled", "progress": None, "message": "cancelled"})
        elif exc is not None:
            post({"name": job.name, "state": "error", "progress": None, "message": str(exc)})
            outcome(exc)
        elif job.progress.cancelled:
            # Cancelled, but the work returned what it had done (mining keeps a partial index).
            post({"name": job.name, "state": "cancelled", "progress": None, "message": "kept"})
            outcome(None)
        else:
            post({"name": job.name, "state": "done", "progress": 1.0, "message": ""})
            outcome(None)

    def cancel(self, name: str | None = None) -> None:
        """Ask running jobs (named ``name``, or all) to stop at their next progress report."""
        with self._lock:
            for own, job in self._jobs.items():
                if name is None or own == name:
                    job.progress.cancel_event.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until every running job's thread ends (for scripts and tests)."""
        for job in list(self._jobs.values()):
            if job.thread is not None:
                job.thread.join(timeout)
