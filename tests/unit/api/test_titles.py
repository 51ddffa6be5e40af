from __future__ import annotations

from pyexec.api.schemas import JobCreate
from pyexec.api.submission import derive_title


def test_title_from_title_prompt_or_code() -> None:
    assert derive_title(JobCreate(code="1", title=" Sales ")) == "Sales"
    assert derive_title(JobCreate(prompt="Top 10 rows. Then plot.")) == "Top 10 rows."
    assert len(derive_title(JobCreate(prompt="x" * 300))) == 80
    assert derive_title(JobCreate(code="# %% Load the data\nx = 1")) == "Load the data"
    assert derive_title(JobCreate(code="x = 1")) == "Code job"
