"""Per-VNF, level-triggered reconciliation of the VNF record with the cluster."""
