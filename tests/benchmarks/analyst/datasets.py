"""Real data sets shipped inside PyPI packages (no download), written as the CSV files a
person would upload. Column names are kept as the packages ship them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import pandas as pd


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    raw = load_iris(as_frame=True)
    frame = raw.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = raw.target_names[raw.target]
    return frame.drop(columns="target")


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    raw = load_wine(as_frame=True)
    frame = raw.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map({0: "class_0", 1: "class_1", 2: "class_2"})
    return frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": "progression"})


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True)
    frame = raw.frame.copy()
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import warnings

        from vega_datasets import local_data

        with warnings.catch_warnings():  # vega_datasets' own read_json call, not ours
            warnings.simplefilter("ignore")
            return getattr(local_data, name.replace("-", "_"))()

    return load


def _statsmodels(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib

        module = importlib.import_module(f"statsmodels.datasets.{name}")
        return module.load_pandas().data

    return load


LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "iris.csv": _iris,
    "wine.csv": _wine,
    "diabetes.csv": _diabetes,
    "breast_cancer.csv": _breast_cancer,
    "cars.csv": _vega("cars"),
    "seattle_weather.csv": _vega("seattle-weather"),
    "stocks.csv": _vega("stocks"),
    "barley.csv": _vega("barley"),
    "airports.csv": _vega("airports"),
    "affairs.csv": _statsmodels("fair"),
    "statecrime.csv": _statsmodels("statecrime"),
    "macrodata.csv": _statsmodels("macrodata"),
    "grunfeld.csv": _statsmodels("grunfeld"),
    "longley.csv": _statsmodels("longley"),
}


def write_all(folder: Path) -> dict[str, Path]:
    """Each data set as a CSV in `folder`; the benchmark reads them back as a user's file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, load in LOADERS.items():
        path = folder / name
        frame = load()
        keep_index = name == "statecrime.csv"  # the state names are its index
        if keep_index:
            frame = frame.rename_axis("state").reset_index()
        frame.to_csv(path, index=False)
        paths[name] = path
    return paths


@cache
def frame(path: Path) -> pd.DataFrame:
    """The CSV as pandas reads it by default: what the job's kernel sees."""
    return pd.read_csv(path)
