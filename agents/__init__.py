"""Agents. They register through the `harness.agents` entry points and never import a task.

Note: the OpenAI Agents SDK also uses the import name `agents`; this project does not use that
SDK, and installing both in one environment is not supported.
"""
