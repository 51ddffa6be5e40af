"""The docs' generated pages match the code, and every setting says what it is for."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pyexec.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def _generator():  # docs/ is not a package: load its script by path
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == [], f"settings without a description: {missing}"


def test_the_generated_pages_are_up_to_date() -> None:
    generate = _generator()
    for name, page in generate.PAGES.items():
        assert page.read_text() == generate.GENERATORS[name](), (
            f"{page.relative_to(ROOT)} is stale: run .venv/bin/python docs/generate.py"
        )


def test_the_readme_and_the_docs_show_the_same_python_example() -> None:
    def snippet(path: Path) -> str:
        text = path.read_text()
        return text.split("```python\n", 1)[1].split("```", 1)[0]

    assert snippet(ROOT / "README.md") == snippet(ROOT / "docs" / "getting-started.md")
