"""Several replicas, active-active: membership leases and VNF ownership."""
