"""storfleet: a manager for fleets of heterogeneous storage arrays (successor of SODA Delfin)."""

__version__ = "0.1.0"
