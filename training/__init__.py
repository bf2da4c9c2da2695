"""How the built-in demo model is made: scenes, training, evaluation. Never in the image."""
