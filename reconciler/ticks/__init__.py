"""The tick runtime: rollout ticks in their own process, never queued behind a converge."""
