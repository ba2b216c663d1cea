"""User text (latent and modality names) made safe for the XML files crl writes: GraphML and SVG.

Escaping alone is not enough: XML 1.0 forbids some characters outright, even as character references, and one
of them in a name (a control character pasted into names.json, a NUL, a lone surrogate) makes the whole file
unreadable to every XML tool. Every XML writer goes through `xml_text` or `xml_attr`; the DOT writer uses
`legal_chars` too, since Graphviz and UTF-8 choke on the same characters.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

# What XML 1.0 allows (https://www.w3.org/TR/xml/#charsets): tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and
# U+10000 up. Everything else: the other C0 controls, lone surrogates, U+FFFE and U+FFFF.
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPLACEMENT = "\ufffd"  # '�', so a replaced character stays visible and two names stay two


def legal_chars(text: object) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _FORBIDDEN.sub(REPLACEMENT, str(text))


def xml_text(text: object) -> str:
    """Element content: legal characters, '&', '<' and '>' escaped, and CR kept (parsers turn a bare CR into LF)."""
    return escape(legal_chars(text), {"\r": "&#13;"})


def xml_attr(text: object) -> str:
    """A quoted attribute value, quotes included: legal characters, markup and line breaks escaped."""
    return quoteattr(legal_chars(text))
