"""Code that runs inside a job's kernel, not in the worker.

These modules are never imported by the worker: `pyexec.worker.kernel_source` reads them as
text (with `importlib.resources`) and the kernel runs them. They are real modules so that ruff
and the tests see them; each runs on its own, in any IPython kernel with pandas.
"""
