"""The contract between the Python widget and its front end, declared once.

Everything that crosses the boundary is declared here: the synced traits (:class:`Traits`),
the meta of every wire blob, the custom messages, the enums and the key strings that tag
what a blob answers. The TypeScript side is generated from this file::

    python -m actscope.widget.typescript   # writes js/src/traits.ts and the key fixture

and ``tests/test_contract.py`` fails when the generated files are out of date, so the two
sides cannot drift. The Python encoders build their metas as these ``TypedDict``s, so mypy
rejects a key that is not declared.

Terms (one word per idea, on both sides; ``docs/architecture.md`` has the glossary):
``layer`` a module call's dotted name; ``input_index`` the number of an input; ``unit``
a channel, neuron or feature; ``position`` a token or spatial location (flat); ``kind`` a
layer's layout; ``modality`` what an input is; ``job`` background work; ``index`` only ever
an :class:`~actscope.ActivationIndex`; ``key`` the string saying what a blob answers;
``type`` the tag of a union (messages, saliency targets).
"""

from __future__ import annotations

from .enums import *  # noqa: F403
from .keys import *  # noqa: F403
from .messages import *  # noqa: F403
from .metas import *  # noqa: F403
from .traits import *  # noqa: F403
