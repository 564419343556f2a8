"""harness: tune and evaluate LLM agents on multi-turn text environments."""
from .agent import Agent, AgentReply, AgentRequest
from .errors import HarnessError, RegistryError, RunStoreError, SpecError
from .registry import register_agent, register_task, register_trainer
from .specs import AgentSpec, RunSpec, TaskSpec, TrainerSpec
from .task import Env, EnvCrashed, Oracle, ResetResult, StepResult, Subtask, Task
from .trajectory import Message, Step, Trajectory, Usage

__all__ = [
    "Agent", "AgentReply", "AgentRequest", "AgentSpec", "Env", "EnvCrashed", "HarnessError", "Message",
    "Oracle", "RegistryError", "ResetResult", "RunSpec", "RunStoreError", "SpecError", "Step", "StepResult",
    "Subtask", "Task", "TaskSpec", "TrainerSpec", "Trajectory", "Usage", "register_agent", "register_task",
    "register_trainer",
]
__version__ = "0.1.0"
