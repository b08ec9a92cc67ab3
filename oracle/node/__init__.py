"""The oracle node: the durable epoch loop, its chain client, keys, config and metrics (`ecoai oracle ...`)."""
