"""The ReAct prompt: an instruction, one worked example, then the room and the task.

Same shape as the published ALFWorld baselines (ETO, IPR, EEF): replies are "Thought: ...\nAction:
...", observations come back as "Observation: ...", and the first observation is the engine's intro
without its "-= Welcome to TextWorld, ALFRED! =-" banner. The wording and the example are ours
(the example's bathroom is in no game); its commands are those of the engine's grammar in alfworld
0.4.2 ("move X to Y", where older releases said "put X in/on Y").
"""
from harness import react


INSTRUCTION = """You are in a household and have to complete a task by interacting with the room.
First you see the room and your task. Every turn, think about what you know and what to do next, then \
give one action; the room answers with what happened.

Actions:
go to RECEPTACLE: walk to a receptacle and see what is on it
open RECEPTACLE / close RECEPTACLE: open or close a receptacle (fridge, cabinet, drawer, microwave, ...)
take OBJECT from RECEPTACLE: pick an object up (you can hold one object at a time)
move OBJECT to RECEPTACLE: put the object you hold in or on a receptacle
examine OBJECT / examine RECEPTACLE: look at something closely
use OBJECT: switch a lamp on or off
heat OBJECT with microwave / cool OBJECT with fridge / clean OBJECT with sinkbasin: change what you hold
look: describe where you are
inventory: list what you hold
Name objects and receptacles with their numbers, exactly as the room does ("cabinet 2"). If the room \
answers "Nothing happens.", the action was not possible: try something else.

Answer every turn with one line of reasoning and one action, exactly in this format:
Thought: <your reasoning>
Action: <one action>"""

EXAMPLE = [
    ("You are in the middle of a room. Looking quickly around you, you see a cabinet 2, a cabinet 1, a countertop 1, "
     "a garbagecan 1, a sinkbasin 1, a toilet 1, and a towelholder 1.\n\nYour task is to: put some soapbar on "
     "toilet.", None),
    ("A soap bar is often kept in a cabinet or on the countertop. I will check the first cabinet.", "go to cabinet 1"),
    ("You arrive at cabinet 1. The cabinet 1 is closed.", None),
    ("The cabinet is closed, so I open it.", "open cabinet 1"),
    ("You open the cabinet 1. The cabinet 1 is open. In it, you see a soapbottle 1, and a toiletpaper 2.", None),
    ("No soap bar here. The countertop is next.", "go to countertop 1"),
    ("You arrive at countertop 1. On the countertop 1, you see a candle 1, a soapbar 1, and a spraybottle 1.", None),
    ("There is the soap bar. I take it.", "take soapbar 1 from countertop 1"),
    ("You pick up the soapbar 1 from the countertop 1.", None),
    ("Now I bring it to the toilet.", "go to toilet 1"),
    ("You arrive at toilet 1. On the toilet 1, you see a cloth 1.", None),
    ("I put the soap bar on the toilet to finish the task.", "move soapbar 1 to toilet 1"),
    ("You move the soapbar 1 to the toilet 1.", None),
]


def first_message(first_observation: str, with_example: bool = True) -> str:
    example = react.example_text(EXAMPLE) if with_example else None
    return react.first_message(INSTRUCTION, example, first_observation)
