"""lukewarm's command line for people: serve, caption, probe, cost, convert, export.

What lives here: one module per command (`convert` and `export` dispatch to `toolkit`),
the pricing model behind `cost` (`pricing`), and the local stack (`localstack/`).

What it may import: `contract`, `infra` (settings and schedules), `warmer` (the local
stack runs the real warmer), `captioner` and `toolkit`. Nothing deployed imports it.
"""
