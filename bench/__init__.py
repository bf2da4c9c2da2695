"""Benchmarks that compare lukewarm against the reference design, each in one run."""
