"""Code that runs inside the job's kernel, kept as real modules so that linters and tests see
it; the planner reads their text with `importlib.resources` and writes it into cells."""
