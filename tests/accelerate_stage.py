"""One SFT stage on toy trajectories, for tests/test_accelerate.py to run under `accelerate launch`
(or as a plain script: one process).

    python tests/accelerate_stage.py <stage dir> <batch size> <max steps> <audit file>

Every process records, with an audit hook, each file it opens for writing, creates, renames or
removes in the stage directory (checkpoints/ aside: Trainer's own), and writes that list and its
stage result into ``<audit file>.<rank>``.
"""
import json
import os
import sys
from pathlib import Path

from harness.ranks import end_process_group
from harness.trainers.finetune import LoraOptions, TrainOptions, fine_tune
from harness.trajectory import Message, Trajectory


def toy_trajectories(n: int = 16) -> list[Trajectory]:
    """Counter conversations of different lengths (batches need padding), every turn trained."""
    out = []
    for i in range(n):
        msgs = [Message(role="user", content=f"Your task: reach {i % 5 + 1}. The counter is 0.")]
        for k in range(i % 5 + 1):
            msgs += [Message(role="assistant", content=f"Thought: {k} is below the target.\nAction: inc", train=True),
                     Message(role="user", content=f"Observation: The counter is {k + 1}.")]
        out.append(Trajectory(id=f"t{i}", task="toy", subtask_id=f"s{i}", category="c", messages=msgs, prompt_len=1))
    return out


def main() -> None:
    stage, batch, steps, audit = Path(sys.argv[1]).resolve(), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rank = int(os.environ.get("RANK", "0"))
    writes: list[str] = []

    def record(event, args):
        if event == "open" and args[1] is not None and any(c in str(args[1]) for c in "wax+"):
            path = args[0]
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"):
            path = args[0]
        else:
            return
        if isinstance(path, (str, Path)) and str(Path(path).resolve()).startswith(str(stage)) \
                and not str(Path(path).resolve()).startswith(str(stage / "checkpoints")):
            writes.append(f"{event} {path}")
    sys.addaudithook(record)
    # dropout off: the processes draw the same masks (same seed), so they would differ from one process's
    opts = TrainOptions(model="tiny-random", lora=LoraOptions(r=8, alpha=16, dropout=0.0), batch_size=batch,
                        max_steps=steps, lr=1e-3, max_len=512, save_steps=2, sampler="random", epochs=10)
    result = fine_tune(toy_trajectories(), opts, stage)
    Path(f"{audit}.{rank}").write_text(json.dumps({"writes": writes, "result": result}))
    end_process_group()


if __name__ == "__main__":
    main()
