"""One declaration per setting: default, bounds or choices, and the words the Model page shows for it.

Validation (crl.config.validation) and the Model page's widgets (crl.ui.setting_widgets) both read these
declarations, so a bound, a choice or a help text is changed in one place and the two can never disagree. (They
did: the page capped latents at 32 while validation took any number; a value a widget cannot show is silently
replaced by Streamlit, so every valid value must also fit its widget.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crl.errors import ConfigError

_KEY = "setting"


@dataclass(frozen=True)
class Setting:
    """A setting's declaration. The field name and type come from the dataclass field that holds it.

    low / high: the allowed range, inclusive unless open_low / open_high (then the bound itself is refused,
    and its widget offers it but validation explains why not). choices: the values a text setting allows;
    names: how the page shows each. label, unit, help, step, format: the page's widget.
    """

    default: Any = None
    label: str = ""
    help: str = ""
    unit: str = ""
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict, compare=False)
    step: float | None = None
    format: str | None = None

    @property
    def title(self) -> str:
        """The widget's label: "Patience (epochs)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def name_of(self, choice: str) -> str:
        """How the page shows one of the choices."""
        return self.names.get(choice, choice)

    def allowed(self) -> str:
        """The range in words, after "must": "lie between 1 and 32", "be 0 or more", "lie in (0, 1)"."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            if not (self.open_low or self.open_high):
                return f"lie between {low} and {high}"
            return f"lie in {'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"
        if low is not None:
            if self.open_low:
                return "be positive" if low == 0 else f"be more than {low}"
            return "be 0 or more" if low == 0 else f"be at least {low}"
        if high is not None:
            return f"be less than {high}" if self.open_high else f"be at most {high}"
        return "be any value"

    def within(self, value: float) -> bool:
        """Whether a number lies in the declared range."""
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.open_high else value > self.high))

    def check(self, where: str, value: Any) -> None:
        """Raise ConfigError naming `where`, the value and what is allowed, when `value` breaks the declaration."""
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where} '{value}' is unknown; choose one of {', '.join(self.choices)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number (got {value})")
        if not self.within(value):
            raise ConfigError(f"{where} must {self.allowed()} (got {value})")


def declare(default: Any, **spec: Any) -> Any:
    """A dataclass field with this default and its Setting (see Setting for the keywords)."""
    return dataclasses.field(default=default, metadata={_KEY: Setting(default=default, **spec)})


def declared(section: Any) -> Iterator[tuple[str, Setting]]:
    """(field name, Setting) for each declared field of a section dataclass (or instance), in field order."""
    for f in dataclasses.fields(section):
        if _KEY in f.metadata:
            yield f.name, f.metadata[_KEY]


def declaration(section: Any, name: str) -> Setting:
    """The Setting of one field of a section dataclass; KeyError when it has none."""
    found = dict(declared(section)) if dataclasses.is_dataclass(section) else {}
    if name not in found:
        raise KeyError(f"no declared setting '{name}' in {getattr(section, '__name__', section)}")
    return found[name]
