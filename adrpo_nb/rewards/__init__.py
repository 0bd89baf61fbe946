"""Rewards as plain callables in the ecosystem's signatures (MNIST: ``reward(images) -> Tensor[N]``)."""
