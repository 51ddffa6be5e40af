"""One clause read against one table: its template, the columns it names, its conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.agent.planner.conditions import Condition, find_conditions
from worker.agent.planner.names import Mention, best_column, find_mentions, stem
from worker.agent.planner.tables import ColumnKind, Table
from worker.agent.planner.text import Lexeme, rewrite

_PLACEHOLDER = re.compile(r"@(\d+)")


@dataclass
class Reading:
    table: Table
    template: str  # with conditions removed
    mentions: list[Mention]  # `@i` in the template is mentions[i]
    quoted: list[str]  # `$i` in the template is quoted[i]
    conditions: tuple[Condition, ...] = ()
    table_named: bool = False  # a word of the clause is the file's name ("customers")

    def column(self, index: int | str) -> str:
        return self.mentions[int(index)].column

    def kind(self, index: int | str) -> ColumnKind:
        return self.table.kind(self.column(index))

    def indices(self, template: str | None = None) -> list[int]:
        """The mentions left in (part of) the template, in order, each once."""
        seen: list[int] = []
        for match in _PLACEHOLDER.finditer(self.template if template is None else template):
            index = int(match[1])
            if index not in seen:
                seen.append(index)
        return seen

    def columns(self, *kinds: ColumnKind, template: str | None = None) -> list[str]:
        """Distinct columns named in (part of) the template, of the given kinds (or any)."""
        out: list[str] = []
        for index in self.indices(template):
            column = self.column(index)
            if (not kinds or self.table.kind(column) in kinds) and column not in out:
                out.append(column)
        return out

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.template) is not None

    def search(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.template)

    @property
    def score(self) -> float:
        """How well this table fits the clause: the columns it found, how surely, and whether
        the clause says the file's name."""
        return sum(m.score for m in self.mentions) + (0.5 if self.table_named else 0.0)

    @property
    def matched_loosely(self) -> list[tuple[str, str]]:
        """(words said, column) for names that were not written exactly as the column's."""
        pairs = []
        for m in self.mentions:
            if (
                m.said.replace(" ", "").lower()
                != m.column.replace("_", "").replace(" ", "").lower()
            ):
                pairs.append((m.said, m.column))
        return pairs


def read(lexemes: list[Lexeme], table: Table) -> Reading:
    """Template the clause for `table`: its column names become `@i`, quoted values `$i`."""
    # Pieces: ("words", [..]) runs of plain words, or a finished template piece.
    quoted: list[str] = []
    quoted_columns: dict[int, str] = {}
    tokens: list[str] = []  # one per lexeme, so that mention spans map back to lexemes
    for i, lexeme in enumerate(lexemes):
        if lexeme.kind == "word":
            tokens.append(lexeme.text.lower())
        elif lexeme.kind == "quoted":
            named = best_column(lexeme.text, table.columns)
            if named and named[1] >= 0.9:
                quoted_columns[i] = named[0]
            tokens.append("\x00")
        else:
            tokens.append("\x00")  # numbers, operators and files never name a column
    mentions = find_mentions(tokens, table.columns)
    for i, column in quoted_columns.items():
        mentions.append(Mention(column, i, i + 1, 1.0, lexemes[i].text))
    mentions.sort(key=lambda m: m.start)
    starts = {m.start: n for n, m in enumerate(mentions)}
    covered = {i for m in mentions for i in range(m.start, m.end)}
    parts: list[str] = []
    for i, lexeme in enumerate(lexemes):
        if i in starts:
            parts.append(f"@{starts[i]}")
        elif i in covered:
            continue
        elif lexeme.kind == "word":
            parts.append(lexeme.text.lower())
        elif lexeme.kind == "quoted":
            parts.append(f"${len(quoted)}")
            quoted.append(lexeme.text)
        elif lexeme.kind == "number":
            value = float(lexeme.value or 0)
            parts.append(str(int(value)) if value == int(value) else str(value))
        elif lexeme.kind in ("date", "op"):
            parts.append(str(lexeme.value))
        # files are dropped: they choose the table, not the task
    template = rewrite(" ".join(parts))
    columns = [m.column for m in mentions]
    spelled = {lx.text.lower(): lx.text for lx in lexemes if lx.kind == "word"}
    found = find_conditions(template, columns, table, quoted, spelled)
    for f in sorted(found, key=lambda f: f.start, reverse=True):
        template = template[: f.start] + " " + template[f.end :]
    template = " ".join(template.split())
    file_word = stem(table.stem)
    named = any(lx.kind == "word" and stem(lx.text.lower()) == file_word for lx in lexemes)
    conditions = tuple(f.condition for f in found)
    return Reading(table, template, mentions, quoted, conditions, table_named=named)
