"""The ReAct prompt: an instruction, one worked example, then the task.

Same shape as the published ScienceWorld baselines (ETO, IPR, EEF): the reply format is
"Thought: ...\nAction: ...", observations come back as "Observation: ...". The wording and the
example are ours; the example is a real episode of find-plant (train variation 2).
"""
from harness import react


INSTRUCTION = """You are an agent doing an elementary science experiment in a simulated world.
The world has these rooms: kitchen, foundry, workshop, bathroom, outside, living room, bedroom, greenhouse, \
art studio, hallway.
Explore it to find the things you need. Containers are already open, and you can teleport to any room in one step.

Actions you can take:
open OBJ / close OBJ: open or close a container
activate OBJ / deactivate OBJ: switch a device on or off
connect OBJ to OBJ / disconnect OBJ: wire electrical components
use OBJ [on OBJ]: use a device or item
look around: describe the current room
look at OBJ: describe an object in detail
look in OBJ: describe what a container holds
read OBJ: read a note or a book
move OBJ to OBJ: put an object into a container
pick up OBJ: take an object into your inventory
pour OBJ into OBJ: pour a liquid into a container
mix OBJ: chemically mix a container
teleport to LOC: go to a room
focus on OBJ: declare the object the task is about (only when the task asks; a wrong focus fails the task)
wait / wait1: do nothing for 10 steps / 1 step

Answer every turn with one line of reasoning and one action, exactly in this format:
Thought: <your reasoning>
Action: <one action>"""

EXAMPLE = [
    ("Your task is to find a(n) plant. First, focus on the thing. Then, move it to the blue box in the kitchen.", None),
    ("Plants grow in the greenhouse, so I will look there first.", "teleport to greenhouse"),
    ("You teleport to the greenhouse.", None),
    ("I should see what is in the greenhouse.", "look around"),
    ("This room is called the greenhouse. In it, you see: \n\tthe agent\n\ta substance called air\n"
     "\ta flower pot 4 (containing a pea plant in the adult stage with a tall height, soil)\n"
     "\ta jug (containing nothing)\n\ta sink, which is turned off. In the sink is: nothing.\n"
     "You also see:\n\tA door to the hallway (that is open)\n\tA door to the outside (that is open)", None),
    ("The pea plant is a plant. The task asks me to focus on it first.", "focus on adult pea plant"),
    ("You focus on the pea plant.", None),
    ("Now I take the flower pot with the pea plant so I can carry it.", "pick up flower pot 4"),
    ("You move the flower pot 4 to the inventory.", None),
    ("The blue box is in the kitchen.", "teleport to kitchen"),
    ("You teleport to the kitchen.", None),
    ("I put the pea plant into the blue box to finish the task.",
     "move flower pot 4 containing pea plant and soil in inventory to blue box"),
    ("You move the flower pot 4 to the blue box.", None),
]


def first_message(task_description: str, with_example: bool = True) -> str:
    example = react.example_text(EXAMPLE) if with_example else None
    return react.first_message(INSTRUCTION, example, task_description.strip())
