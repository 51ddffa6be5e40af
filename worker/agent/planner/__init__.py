"""The offline planner: an analyst without a language model that answers exactly or refuses.

It is the `Model` the agent loop uses when no language model is configured. A request is
split into clauses; each clause is parsed into one query value with a slot for every part
that changes the numbers (measure, targets, conditions, groups, preparation), against the real
columns and values of the job's tables; a ledger of the request's words makes sure nothing
that would change a number is dropped (the request refuses, naming it, instead); one
compiler turns each query into pandas/scipy code; and the answer is written from the numbers
that code displayed, read back from the kernel.
"""

from pyexec.worker.agent.planner.parser import PlanError
from pyexec.worker.agent.planner.plan import CAPABILITIES, Plan, Step, plan
from pyexec.worker.agent.planner.planner import OfflinePlanner, read_result

__all__ = ["CAPABILITIES", "OfflinePlanner", "Plan", "PlanError", "Step", "plan", "read_result"]
