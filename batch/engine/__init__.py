"""What moves jobs: the runtime container, the tick, the steps, batch-end notifications."""
