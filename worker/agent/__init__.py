"""The analyst: a model (an LLM or the offline planner) writes cells, a real kernel runs them."""

from worker.agent.factory import open_model
from worker.agent.followup import ParentRun, inputs_of, load_parent
from worker.agent.loop import AgentOutcome, Analyst
from worker.agent.model import Model, ModelError

__all__ = [
    "AgentOutcome",
    "Analyst",
    "Model",
    "ModelError",
    "ParentRun",
    "inputs_of",
    "load_parent",
    "open_model",
]
