"""Synthetic demo data: a simulated e-commerce app with membership, as users, events and items.

See docs/demo-data.md for what is simulated and the truths planted in it.
"""

from userops.demo.generate import DemoFiles, generate_files

__all__ = ["DemoFiles", "generate_files"]
