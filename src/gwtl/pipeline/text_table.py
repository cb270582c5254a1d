"""Plain-text tables for the command line (``gwtl basin``, ``gwtl areas``)."""

from __future__ import annotations


def aligned(header: list[str], body: list[list[str]], right=lambda i: False) -> list[str]:
    """The lines of a table: columns two spaces apart, each as wide as its widest cell, trailing spaces cut.

    ``right(i)`` says whether column ``i`` is flush right (numbers); the others are flush left.
    """
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if right(i) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in [header, *body]]
