"""The analyst: a model (an LLM or the offline planner) writes cells, a real kernel runs them."""

from pyexec.worker.agent.factory import open_model
from pyexec.worker.agent.followup import ParentRun, inputs_of, load_parent
from pyexec.worker.agent.loop import AgentOutcome, Analyst
from pyexec.worker.agent.model import Model, ModelError
from pyexec.worker.agent.task import AgentLimits, AgentRun, AgentTask, AgentUsage, JobCancelled

__all__ = [
    "AgentLimits",
    "AgentOutcome",
    "AgentRun",
    "AgentTask",
    "AgentUsage",
    "Analyst",
    "JobCancelled",
    "Model",
    "ModelError",
    "ParentRun",
    "inputs_of",
    "load_parent",
    "open_model",
]
