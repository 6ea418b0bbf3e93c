"""Training: the trainer around `model.fit`, run folders, and the registered losses, metrics,
optimizers, schedules and callbacks."""
