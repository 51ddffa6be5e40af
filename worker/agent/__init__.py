"""The analyst: a model (an LLM or the offline planner) writes cells, a real kernel runs them."""
