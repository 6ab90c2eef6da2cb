"""Model lifecycle: the registry of model versions, the champion every process serves."""
