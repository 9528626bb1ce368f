"""The SAELens tests run in their own pytest run, with the SAELens overlay (``.venv-sae``,
TransformerLens 3) before ``.venv`` on ``PYTHONPATH`` (``scripts/test.sh`` sets
``ACTSCOPE_SAELENS=1`` for it); the main run, with TransformerLens 4, leaves them out."""

from __future__ import annotations

import os

if not os.environ.get("ACTSCOPE_SAELENS"):
    collect_ignore = ["test_saelens.py"]
