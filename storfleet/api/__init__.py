"""The REST API: Delfin-compatible /v1 plus storfleet's own endpoints (FastAPI)."""
