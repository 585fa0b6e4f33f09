"""CSV cells that a spreadsheet opens as text, never as a formula.

Spreadsheets run a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or carriage
return, whatever follows) as a formula. Names, descriptions and actors in the catalog are user
text, so every CSV export passes its text cells through :func:`cell`, which prefixes such a cell
with a single quote (OWASP's advice). Numbers are written as they are.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """``value``, with a text cell that a spreadsheet would run made inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
