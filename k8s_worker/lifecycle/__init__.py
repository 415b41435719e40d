"""VNF lifecycle: the RPC handler that journals intents, and the operations
the reconciler carries out (instantiate, terminate, scale, heal, update)."""
