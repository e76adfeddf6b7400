"""Training: models, the lecture's momentum, the stacked network, CUDA graphs, the loop and its statuses."""
