"""BIF syntax: a position-based scanner and the parser of probability-block bodies (io layer).

Small compiled regular expressions are matched at a cursor, so every error carries an
exact line and column. Per-configuration entries ``(s1, s2) p1, p2;`` -- almost all of
a large file -- first go through one regular expression and a bulk ``float``
conversion; anything unusual (comments, quoted names, malformed text) falls back to
the token-by-token path, which is the authority on what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import BIFParseError
from ..network.bayesnet import table_size_problem

_SKIP = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}()\[\],;|]|(?:[^\s{}()\[\],;|"/]|/(?![/*]))+', re.S)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_PROPERTY = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^;"])*;', re.S)
#: A name that can be written without quotes.
UNQUOTED = re.compile(r'(?:[^\s{}()\[\],;|"/]|/(?![/*]))+\Z')
_FAST_CONFIG = re.compile(r'\s*\(((?:[^()";/]|/(?![/*]))*)\)([^;{}()"/_]*);')
_FAST_VALUES = re.compile(r'(table|default)\s([^;{}()"/_]*);')
_UNESCAPE = re.compile(r"\\(.)", re.S)
_PUNCT = frozenset("{}()[],;|")
_INF = float("inf")


SHOWN = 60  # characters of a token quoted in an error message


def show(tok: str | None) -> str:
    """A token as quoted in error messages (a long one cut, with its length).

    >>> show("{"), show(None), show("9" * 1000)[-24:]
    ("'{'", 'end of file', "99... (1000 characters)'")
    """
    if tok is None:
        return "end of file"
    if len(tok) > SHOWN:
        return repr(tok[:SHOWN] + f"... ({len(tok)} characters)")
    return repr(tok)


def unquote(tok: str) -> str:
    """The name a word or a double-quoted token stands for.

    >>> unquote("rain"), unquote(r'"say \\"hi\\""')
    ('rain', 'say "hi"')
    """
    return _UNESCAPE.sub(r"\1", tok[1:-1]) if tok[0] == '"' else tok


class Scanner:
    """A cursor over BIF text: tokens, names, numbers, and errors with line/column.

    Examples
    --------
    >>> sc = Scanner('variable "a b" {\\n  type', "<string>")
    >>> sc.next(), sc.name("a variable name")
    (('variable', 0), ('a b', 9))
    >>> sc.expect("{", "to open the block")
    15
    >>> sc.expect(";", "after the type")
    Traceback (most recent call last):
    ...
    bnem.errors.BIFParseError: <string>:2:3: expected ';' after the type, found 'type'
    """

    __slots__ = ("text", "source", "pos", "last")

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source, self.pos, self.last = text, source, 0, 0

    def where(self, pos: int) -> tuple[int, int]:
        """1-based (line, column) of offset ``pos``."""
        return self.text.count("\n", 0, pos) + 1, pos - self.text.rfind("\n", 0, pos)

    def error(self, message: str, pos: int) -> BIFParseError:
        """A :class:`~bnem.errors.BIFParseError` placed at offset ``pos`` (to be raised)."""
        line, col = self.where(pos)
        return BIFParseError(message, line, col, self.source)

    def skip(self) -> int:
        """Move past white space and comments; return the new position."""
        m = _SKIP.match(self.text, self.pos)
        assert m is not None  # the pattern also matches the empty string
        self.pos = m.end()
        return self.pos

    def next(self) -> tuple[str | None, int]:
        """Return ``(token, start)`` and advance; the token is None at end of input."""
        start = self.last = self.skip()
        if start >= len(self.text):
            return None, start
        m = _TOKEN.match(self.text, start)
        if m is None:
            if self.text.startswith("/*", start):
                raise self.error("expected '*/' closing this comment, found end of file", start)
            raise self.error("expected '\"' closing this quoted name, found end of file", start)
        self.pos = m.end()
        return m.group(), start

    def peek(self) -> tuple[str | None, int]:
        """Like :meth:`next`, without advancing."""
        pos = self.pos
        try:
            return self.next()
        finally:
            self.pos = pos

    def expect(self, punct: str, context: str) -> int:
        """Read the punctuation ``punct`` and return its offset, or raise naming ``context``."""
        tok, start = self.next()
        if tok != punct:
            raise self.error(f"expected '{punct}' {context}, found {show(tok)}", start)
        return start

    def name(self, what: str) -> tuple[str, int]:
        """Read a word or quoted name: ``(name, start)``; raise naming ``what`` otherwise."""
        tok, start = self.next()
        if tok is None or tok in _PUNCT:
            raise self.error(f"expected {what}, found {show(tok)}", start)
        return unquote(tok), start

    def name_list(self, close: str, what: str) -> tuple[list[str], list[int]]:
        """Names separated by optional commas up to ``close``: ``(names, positions)``."""
        names: list[str] = []
        positions: list[int] = []
        comma = False
        while True:
            tok, start = self.next()
            if tok == close and not comma:
                return names, positions
            if tok == "," and names and not comma:
                comma = True
                continue
            if tok is None or tok in _PUNCT:
                expected = what if comma else f"{what}, ',' or '{close}'" if names else \
                    f"{what} or '{close}'"
                raise self.error(f"expected {expected}, found {show(tok)}", start)
            names.append(unquote(tok))
            positions.append(start)
            comma = False

    def values(self) -> tuple[list[float], list[int], int]:
        """Numbers separated by optional commas up to ``;``: ``(values, positions, end)``."""
        vals: list[float] = []
        positions: list[int] = []
        comma = False
        while True:
            tok, start = self.next()
            if tok == ";" and vals and not comma:
                return vals, positions, start
            if tok == "," and vals and not comma:
                comma = True
                continue
            if tok is None or not _NUMBER.match(tok):
                expected = "a number" if comma or not vals else "a number, ',' or ';'"
                raise self.error(f"expected {expected}, found {show(tok)}", start)
            value = float(tok)
            if not 0.0 <= value < _INF:
                raise self.error(f"expected a finite probability >= 0, found {show(tok)}", start)
            vals.append(value)
            positions.append(start)
            comma = False

    def skip_property(self, start: int) -> None:
        """Move past the text of a ``property`` statement (its keyword is at ``start``)."""
        m = _PROPERTY.match(self.text, self.pos)
        if m is None:
            raise self.error("expected ';' ending this property, found end of file", start)
        self.pos = m.end()


# -- probability-block bodies --------------------------------------------------------
def parse_body(sc: Scanner, child: str, parents: Sequence[str],
               states: Mapping[str, Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Parse the entries of a probability block up to its closing brace.

    Returns the rows, shape ``(n_configs, card)`` with parent configurations in C
    order (last parent fastest), and for each row the offset of the entry that gave
    it (used to place later error messages).

    Examples
    --------
    >>> sc = Scanner("(no) 0.2, 0.8; default 0.9 0.1; }", "<string>")
    >>> rows, offsets = parse_body(sc, "wet", ["rain"], {"rain": ("yes", "no"),
    ...                                                  "wet": ("yes", "no")})
    >>> rows.tolist(), offsets.tolist()
    ([[0.9, 0.1], [0.2, 0.8]], [15, 0])
    """
    return _Body(sc, child, parents, states).run()


class _Body:
    def __init__(self, sc, child, parents, states):
        self.sc, self.child, self.parents, self.states = sc, child, parents, states
        self.card = len(states[child])
        cards = [len(states[p]) for p in parents]
        problem = table_size_problem(child, (*cards, self.card))
        if problem:  # before anything of the table's size is allocated
            raise sc.error(problem, sc.pos)
        self.cards, self.n_cfg = cards, int(np.prod(cards, dtype=np.int64))
        self.strides = [int(np.prod(cards[k + 1:], dtype=np.int64)) for k in range(len(cards))]
        self.maps = [{s: i for i, s in enumerate(states[p])} for p in parents]
        self.index, self.vals, self.pos, self.seen = [], [], [], {}
        self.table = self.default = self.close = None

    def run(self) -> tuple:
        """The hot loop: plain ``(s1, s2) p1, p2;`` entries; anything else -> _entry."""
        sc, text, fast, card = self.sc, self.sc.text, _FAST_CONFIG.match, self.card
        maps = [{s: i for s, i in m.items() if UNQUOTED.match(s)} for m in self.maps]
        strides, k = self.strides, len(maps)
        index, vals, srcs, seen = self.index, self.vals, self.pos, self.seen
        while True:
            m = fast(text, sc.pos)
            if m is not None and self.table is None:
                names, parts = m.group(1, 2)
                names = names.split(",") if "," in names else names.split()
                parts = parts.split(",") if "," in parts else parts.split()
                if len(names) == k and len(parts) == card and m.group(2).isascii():
                    try:
                        idx = 0
                        for mp, s, st in zip(maps, names, strides):
                            idx += mp[s.strip()] * st
                        row = [float(x) for x in parts]
                    except (KeyError, ValueError):
                        idx = -1
                    if idx >= 0 and idx not in seen:
                        seen[idx] = pos = m.start(1) - 1
                        index.append(idx)
                        vals.extend(row)
                        srcs.append(pos)
                        sc.pos = m.end()
                        continue
            if self._entry():
                return self._finish()

    def _entry(self) -> bool:
        """Parse one entry token by token; return True at the closing brace."""
        sc = self.sc
        pos = sc.skip()
        m = _FAST_VALUES.match(sc.text, pos)
        if m is not None and self._fast_values(m, pos):
            return False
        tok, start = sc.next()
        if tok == "}":
            self.close = start
            return True
        if tok == "(":
            self._config(start)
        elif tok in ("table", "default"):
            vals, positions, end = sc.values()
            self._conflict(tok, start)
            self._count(vals, positions, end, tok)
            setattr(self, tok, (vals, start))
        elif tok == "property":
            sc.skip_property(start)
        else:
            raise sc.error(f"expected '(', 'table', 'default', 'property' or '}}' in the "
                           f"probability block of {self.child!r}, found {show(tok)}", start)
        return False

    def _fast_values(self, m, pos) -> bool:
        kind, text = m.groups()
        parts = text.split(",") if "," in text else text.split()
        if len(parts) != self._n_values(kind) or not text.isascii() or self._conflict(kind):
            return False
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            return False
        setattr(self, kind, (vals, pos))
        self.sc.pos = m.end()
        return True

    def _config(self, start: int) -> None:
        sc, k = self.sc, len(self.parents)
        names, positions = sc.name_list(")", "a state name")
        vals, vpos, end = sc.values()
        self._conflict("(", start)
        if len(names) != k:
            raise sc.error(f"expected {k} parent state(s) ({', '.join(self.parents)}) in a "
                           f"configuration of {self.child!r}, found {len(names)}",
                           positions[k] if len(names) > k else start)
        idx = 0
        for p, mp, s, st, q in zip(self.parents, self.maps, names, self.strides, positions):
            if s not in mp:
                raise sc.error(f"expected a state of {p!r} (parent of {self.child!r}: "
                               f"{list(self.states[p])}), found {s!r}", q)
            idx += mp[s] * st
        if idx in self.seen:
            line = sc.where(self.seen[idx])[0]
            raise sc.error(f"configuration ({', '.join(names)}) of {self.child!r} is listed "
                           f"twice (first at line {line})", start)
        self._count(vals, vpos, end, "(")
        self.seen[idx] = start
        self.index.append(idx)
        self.vals.extend(vals)
        self.pos.append(start)

    def _conflict(self, kind: str, pos: int | None = None) -> bool:
        """Whether an entry of ``kind`` clashes with earlier ones; raise if ``pos`` is given."""
        if self.table is not None:
            why = "already has a 'table'"
        elif kind == "default" and self.default is not None:
            why = "already has a 'default' entry"
        elif kind == "table" and (self.default is not None or self.index):
            why = "already has per-configuration or 'default' entries"
        else:
            return False
        if pos is None:
            return True
        what = {"table": "a 'table'", "default": "a 'default' entry",
                "(": "a per-configuration entry"}[kind]
        raise self.sc.error(f"found {what} in the probability block of {self.child!r}, which "
                            f"{why}; a 'table' must be the only entry and 'default' may "
                            "appear once", pos)

    def _n_values(self, kind: str) -> int:
        return self.card * (self.n_cfg if kind == "table" else 1)

    def _count(self, vals, positions, end, kind) -> None:
        n = self._n_values(kind)
        if len(vals) != n:
            what = (f"{self.n_cfg} parent configurations x {self.card} states of "
                    f"{self.child!r}, the child's state varying slowest"
                    if kind == "table" and self.parents else f"one per state of {self.child!r}")
            raise self.sc.error(f"expected {n} values ({what}), found {len(vals)}",
                                positions[n] if len(vals) > n else end)

    def _finish(self) -> tuple:
        card, n_cfg = self.card, self.n_cfg
        if self.table is not None:
            vals, pos = self.table
            rows = np.array(vals, dtype=float).reshape(card, n_cfg).T
            self._check_values(rows, [pos] * n_cfg)
            return np.ascontiguousarray(rows), np.full(n_cfg, pos, dtype=np.int64)
        rows, src = np.empty((n_cfg, card)), np.empty(n_cfg, dtype=np.int64)
        filled = np.zeros(n_cfg, dtype=bool)
        if self.index:
            idx = np.array(self.index, dtype=np.int64)
            given = np.array(self.vals, dtype=float).reshape(-1, card)
            self._check_values(given, self.pos)
            rows[idx], src[idx], filled[idx] = given, self.pos, True
        if not filled.all():
            if self.default is None:
                missing = np.flatnonzero(~filled)
                config = np.unravel_index(int(missing[0]), self.cards)
                desc = ", ".join(self.states[p][i] for p, i in zip(self.parents, config))
                raise self.sc.error(
                    f"expected an entry for configuration ({desc}) of {self.child!r} or a "
                    f"'default' entry, found '}}'; {missing.size} of {n_cfg} parent "
                    "configuration(s) have no distribution", self.close)
            vals, pos = self.default
            default = np.array(vals, dtype=float)
            self._check_values(default[None, :], [pos])
            rows[~filled], src[~filled] = default, pos
        return rows, src

    def _check_values(self, rows, positions) -> None:
        """Re-read the first entry holding a negative or non-finite value: that raises."""
        bad = ~((rows >= 0) & (rows < _INF))
        if not bad.any():
            return
        sc = self.sc
        sc.pos = positions[int(np.flatnonzero(bad.any(axis=1))[0])]
        tok, start = sc.next()
        if tok == "(":
            sc.name_list(")", "a state name")
        sc.values()
        raise sc.error("expected finite probabilities >= 0 in this entry", start)
