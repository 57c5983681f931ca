"""Blue/green rollouts: a new image reaches customers only after it proves itself, and goes back on its own."""
