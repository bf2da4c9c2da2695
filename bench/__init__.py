"""Benchmarks that compare lukewarm against the reference design, each in one run.

What it may import: anything of the project (it measures it); nothing imports it.
"""
