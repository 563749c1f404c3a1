"""Inventory sync: fetch every kind from a storage's driver, validate, diff by native id,
apply atomically per kind, record the changes and the per-kind sync state."""

from storfleet.sync.engine import AlreadySyncing, SyncResult, sync_storage

__all__ = ["AlreadySyncing", "SyncResult", "sync_storage"]
