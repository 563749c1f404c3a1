"""Where drivers meet the store: driver calls with timeouts, the driver manager,
registration and access-info updates. Drivers never import this; this imports drivers."""
