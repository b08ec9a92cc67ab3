"""The oracle node: the durable epoch loop, its chain client, keys, config, and `ecoai up`."""
