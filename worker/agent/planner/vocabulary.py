"""The words the planner understands, so that it can say which words of a request it did not use.

The rules' own words are read from the raw-string literals (the regular expressions) of the
modules that hold them, so the list cannot fall behind the rules.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from worker.agent.planner.names import STOPWORDS

# Words that ask for nothing by themselves ("Load the attached CSV file, please").
FILLER = STOPWORDS | {
    "hi", "hello", "please", "thanks", "thank", "using", "use", "pandas", "python", "attached",
    "uploaded", "provided", "given", "load", "read", "open", "could", "would", "like", "need",
    "want", "let", "know", "just", "quick", "quickly", "some", "so", "now", "here", "my", "our",
    "analyse", "analyze", "dataframe", "df", "spreadsheet", "sheet", "excel", "json", "parquet",
    "tsv", "us", "be", "will", "should", "must", "dear", "kindly", "also", "too", "ok", "okay",
    "are", "there", "whats", "s", "t", "can", "you", "me", "give", "tell", "show", "all", "any",
    "those", "ones", "one", "values", "numbers", "table", "result", "results", "report", "them",
    "up", "out", "into", "onto", "per", "via", "each", "every", "only", "both", "as",
    "chart", "graph", "figure", "visualization", "visualisation", "visualize", "visualise",
    "generated", "made", "makes", "did", "does", "do", "done", "get", "got", "see", "view",
    "random", "whose", "cells", "cell", "colored", "coloured", "color", "colour", "over_time",
    "among", "amongst", "everything", "overall", "entire", "whole", "dataset", "datasets",
}  # fmt: skip

_RULE_MODULES = ("intents.py", "conditions.py", "text.py")


def _words_in_patterns(path: Path) -> set[str]:
    words: set[str] = set()
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.string[:2].lower() in ('r"', "rf", "fr"):
            pattern = re.sub(r"\\[a-zA-Z]", " ", token.string[1:])  # \b, \w, \d are not words
            words.update(re.findall(r"[a-z]{2,}", pattern))
    return words


def _rule_words() -> frozenset[str]:
    here = Path(__file__).parent
    words: set[str] = set()
    for name in _RULE_MODULES:
        words |= _words_in_patterns(here / name)
    return frozenset(words)


KNOWN_WORDS = frozenset(FILLER | _rule_words())


def unused_words(template: str) -> list[str]:
    """Words of a clause's template that no rule read: neither a column, nor a value, nor a
    word any rule knows."""
    words = re.findall(r"(?<![@$\w])[a-z][a-z_]+", template)
    return [w for w in dict.fromkeys(words) if len(w) > 2 and not _known(w)]


def _known(word: str) -> bool:
    if word in KNOWN_WORDS:
        return True
    # Patterns write word families once ("correlat", "percentiles?"): "correlated" and
    # "percentile" are theirs.
    return len(word) >= 5 and any(
        len(k) >= 5 and (word.startswith(k) or k.startswith(word)) for k in KNOWN_WORDS
    )
