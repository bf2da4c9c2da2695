"""The original 2022 design, rebuilt for the reference benchmark: the PyTorch captioning
tutorial's modules, numpy preprocessing and beam search, and a model pickled whole with
joblib. It imports nothing from lukewarm's runtime.
"""
