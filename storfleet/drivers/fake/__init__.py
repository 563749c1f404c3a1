"""The fake array: a deterministic, scalable simulator behind the driver interface.

``FakeStorageDriver`` is the driver (entry point ``fake_storage fake_driver``);
``FakeArray`` is the same inventory without the driver, for tests that must know what the
array holds in a given generation (``records``, ``storage``, ``ids``, ``diff``).

extra_attributes (each value JSON, or a JSON string):

* ``seed`` (int, 0): same seed, same array; the serial number derives from it.
* ``counts`` ({collection: int}): plural or singular kind names (``volumes``,
  ``storage_pool``...) and ``alerts``; kinds not named get a handful. Lazy: a million
  volumes cost time, not memory.
* ``churn`` (0..1, 0) and ``churn_period_s`` (60): generation = floor(now / period); each
  step adds, changes and removes ~churn/3 of every kind (records whose parent left move
  to its replacement and count as changed). ``generation`` (int) forces one.
* ``latency_ms``: sleep per call.
* ``faults``: ``[{target, type, rate, from, until, hang_s, share}]``; target a method, a
  kind or ``*``; type ``timeout`` / ``invalid_credentials`` / ``unreachable`` / ``error`` /
  ``malformed_records``; of n matching calls in the window, floor(n * rate) fail.
* ``password_file``: the array's password, re-read at every call (an operator rotating
  it on the array); a call with another password fails with InvalidUsernameOrPassword and
  appends a line (epoch seconds, pid) to ``<password_file>.refused``.
* ``max_concurrency`` (4), ``retention_window_s`` (14400), ``perf_interval_s`` (60),
  ``perf_resources_max`` (100 per resource type), ``collect_interval`` (absent).
"""

from storfleet.drivers.fake.config import FakeConfig, FakeConfigError
from storfleet.drivers.fake.driver import FakeStorageDriver
from storfleet.drivers.fake.generator import FakeArray, KindDiff, Snapshot

__all__ = [
    "FakeArray",
    "FakeConfig",
    "FakeConfigError",
    "FakeStorageDriver",
    "KindDiff",
    "Snapshot",
]
