"""The RPC endpoint, a floor above the reconciler: it validates, authorizes,
journals and enqueues, and never writes a VNF's objects itself."""
