"""What the layers agree on: a deployed model's description and the engine interface."""
