"""How the built-in demo model is made: scenes, training, evaluation. Never in the image."""

import os

# OpenMP threads that spin while they wait for each other make training several times
# slower on a shared CPU (measured: 6.8 s against 1.4 s a step with other jobs
# running). Set before torch loads, so that it applies.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
