"""The fine-tuned SmolLM2 planner (``--planner smol``): base-model cache, prompt/image inputs, planner.

Importing this package imports neither torch nor transformers; the model loads on first use.
"""

from __future__ import annotations

from agent.planners.smol.planner import SmolPlanner, check_plan

__all__ = ["SmolPlanner", "check_plan"]
