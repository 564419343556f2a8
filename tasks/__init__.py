"""Benchmark tasks, one package each. They register through the `harness.tasks` entry points."""
