"""The offline planner: deterministic rules that turn common analysis requests into pandas code.

It is the `Model` the agent loop uses when no language model is configured. It maps a request
("top 10 rows by revenue", "mean, median and std of all numeric columns", "bar chart of revenue
by region") onto the real columns of the job's tables, writes commented pandas code for each
task, and answers with the numbers that code displayed, read back from the kernel.
"""

from worker.agent.planner.intents import PlanError
from worker.agent.planner.plan import CAPABILITIES, Planned, plan
from worker.agent.planner.planner import OfflinePlanner, read_result

__all__ = ["CAPABILITIES", "OfflinePlanner", "PlanError", "Planned", "plan", "read_result"]
