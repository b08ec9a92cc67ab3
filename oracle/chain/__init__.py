"""Chain adapters: the local anvil node, the deployment file, and the contract clients."""
