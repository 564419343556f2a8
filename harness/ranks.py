"""Several training processes (`accelerate launch`, torchrun): only fine-tuning is distributed.

Under `accelerate launch -m harness.cli train ...` the main process (rank 0) runs the experiment
alone — expert runs, rollouts, evaluation and every file outside a training stage — while the other
processes wait. Each fine-tuning stage (a function marked ``shared_stage``) is sent from the main
process to the others with its arguments, and all of them train it together; inside the stage only
the main process writes (trainers/finetune.py). So N processes never play the same episodes, and
every process trains on exactly the data the main process chose.
"""
from __future__ import annotations

import functools
import importlib
import os
from datetime import timedelta
from typing import Any, Callable

# The others wait for the next stage through whole rollout stages (hours); they wait on a gloo group
# (on the CPU: no GPU spinning) with a timeout longer than any stage.
WAIT_TIMEOUT = timedelta(days=7)
_channel: Any = None  # the gloo group stages are sent on, while an experiment runs on several processes


def process_count() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Whether this process writes: rank 0, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def run_on_main(work: Callable[[], Any]) -> Any:
    """``work()`` on the main process (its result there); the other processes run the shared stages
    it sends them until it ends, then return None."""
    global _channel
    if process_count() == 1:
        return work()
    import torch
    import torch.distributed as dist
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available())  # the process group the stages' Trainer uses
    _channel = dist.new_group(backend="gloo", timeout=WAIT_TIMEOUT)
    try:
        if not is_main():
            while (call := _broadcast(None)) is not None:
                module, name, args, kwargs = call
                getattr(importlib.import_module(module), name).__wrapped__(*args, **kwargs)
            return None
        try:
            return work()
        finally:
            _broadcast(None)  # the others stop too, after an error as well
    finally:
        _channel = None
        end_process_group()


def end_process_group() -> None:
    """Destroy the process group before the process exits, as a script that trains on several
    processes must: left alive, gloo's threads can abort the interpreter's exit (SIGABRT,
    "terminate called without an active exception", pytorch#190489)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shared_stage(fn: Callable) -> Callable:
    """Mark a stage that every process runs together: in an experiment on several processes the main
    process sends the call (module-level function, picklable arguments) to the others first."""
    @functools.wraps(fn)
    def send_then_run(*args, **kwargs):
        if _channel is not None and is_main():
            _broadcast((fn.__module__, fn.__name__, args, kwargs))
        return fn(*args, **kwargs)
    return send_then_run


def _broadcast(obj: Any) -> Any:
    """The main process's ``obj`` on every process."""
    import torch.distributed as dist
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_channel)
    return box[0]
