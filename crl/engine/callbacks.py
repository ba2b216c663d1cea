"""fit()'s callbacks: objects with any of `on_start(info)`, `on_step(info)`, `on_epoch(info)`, `on_end(info)`;
`on_step` and `on_epoch` may return True to stop training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def call_hooks(callbacks: Sequence[Any], hook: str, info: dict[str, Any]) -> bool:
    """Run `hook` on every callback that has it; True when any asks training to stop."""
    stop = False
    for callback in callbacks:
        fn = getattr(callback, hook, None)
        if fn is not None and fn(info):
            stop = True
    return stop
