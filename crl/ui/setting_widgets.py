"""Model page widgets drawn from the settings' declarations (crl.config.fields).

Label, range, step, format, choice names and help text come from the one declaration that validation also
reads, so a widget can neither refuse a valid value nor offer a range that validation rejects. Each widget is
keyed by its dotted setting path (crl.ui.model_config.key), which is how the page reads the values back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crl.config import setting
from crl.ui.model_config import key


def number(column, path: str) -> None:
    """A number input for the numeric setting at `path` (e.g. "train.lr", "modalities.labs.latents")."""
    spec = setting(path)
    cast = int if isinstance(spec.default, int) and not isinstance(spec.default, bool) else float
    column.number_input(
        spec.title,
        min_value=None if spec.low is None else cast(spec.low),
        max_value=None if spec.high is None else cast(spec.high),
        step=None if spec.step is None else cast(spec.step),
        format=spec.format,
        key=key(path),
        help=spec.help or None,
    )


def numbers(columns: Sequence, paths: Sequence[str]) -> None:
    """One number input per column, in order."""
    for column, path in zip(columns, paths, strict=False):
        number(column, path)


def select(column, path: str, options: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """A select box over the setting's choices (or `options`, for choices that depend on the data)."""
    spec = setting(path)
    return column.selectbox(
        spec.title,
        list(spec.choices if options is None else options),
        key=key(path),
        format_func=spec.name_of,
        help=spec.help or None,
        **kwargs,
    )


def radio(column, path: str) -> Any:
    """Radio buttons over the setting's choices."""
    spec = setting(path)
    return column.radio(
        spec.title, spec.choices, key=key(path), format_func=spec.name_of, help=spec.help or None
    )


def multiselect(column, path: str, options: Sequence[str], **kwargs: Any) -> Any:
    """A multiselect for a list setting (tiers, edges), over `options`."""
    spec = setting(path)
    return column.multiselect(spec.title, list(options), key=key(path), help=spec.help or None, **kwargs)
