"""The analyst benchmark: questions people ask over real data sets that PyPI packages ship,
answered by the offline planner in real kernels and checked against pandas/scipy computed
here, independently. `make bench-analyst` runs it all; the test suite runs a fixed subset."""
