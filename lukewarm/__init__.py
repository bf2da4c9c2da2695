"""lukewarm's command line for people: serve, caption, probe, cost, convert."""
