"""Image generation: our class-conditional Fashion-MNIST diffusion model and full-size diffusers backends.

Importing this package does not import torch or diffusers; models load on first use.
"""

from agent.imagegen.prompt import GarmentSpec, parse_garment

__all__ = ["GarmentSpec", "parse_garment"]
