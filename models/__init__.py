"""What an architecture is: the scenario language, distributions and queueing theory.

Pure Python (no simpy, no matplotlib). The way in is `load_scenario`.
"""

from models.analysis import Prediction, analyze
from models.errors import Problem, ScenarioError
from models.loading import load_scenario
from models.schema import Scenario

__all__ = ["Prediction", "Problem", "Scenario", "ScenarioError", "analyze", "load_scenario"]
