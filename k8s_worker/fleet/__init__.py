"""The replica fleet, active-active: membership leases and VNF ownership."""
