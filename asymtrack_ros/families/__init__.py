"""Tracker families, one module each: how a family's checkpoints are recognised and loaded,
how its networks are exported and which tracker runs them. ``registry.FAMILIES`` lists them;
the engine factory and ``asymtrack export`` loop over it.
"""
