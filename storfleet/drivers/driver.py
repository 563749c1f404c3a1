"""The driver base class: Delfin's ``StorageDriver`` interface, method for method.

A Delfin driver ports by changing its imports, so the method names and positional
arguments are Delfin's. Every method but ``get_storage`` is optional: the base raises
:class:`~storfleet.drivers.exception.NotSupported` and the framework records "not
supported" for that kind instead of failing the whole sync.

Records are plain dicts shaped as in the Delfin driver guide; the framework validates
each one, so a driver only reports what it sees. A ``list_*`` method may return any
iterable, a generator included, so a driver can stream a million volumes without
building a list.
"""

from collections import namedtuple
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, NotRequired, TypedDict

from storfleet.drivers.context import RequestContext
from storfleet.drivers.exception import NotSupported

Record = dict[str, Any]
"""One resource as a driver reports it (keys as in Delfin's models)."""

Records = Iterable[Record]
"""What a ``list_*`` method returns: a list, a tuple, a generator..."""

GroupResult = Records | Mapping[str, Iterable[Record]]
"""A group ``list_*`` method returns records, or Delfin's dict of groups and relations."""

metric_struct = namedtuple("Metric", "name labels values")
"""One collected series: ``name`` (e.g. ``'iops'``), ``labels`` (``storage_id``,
``resource_type``, ``resource_id``, ``resource_name``, ``type``, ``unit``...) and
``values`` = ``{epoch_ms: float}``. Delfin's ``constants.metric_struct``."""


class Alert(TypedDict):
    """What ``parse_alert`` and ``list_alerts`` return, per alert (Delfin's alert model).

    Times are epoch milliseconds. ``sequence_number`` identifies one occurrence (it is
    what ``clear_alert`` receives); ``alert_id`` identifies the kind of alert.
    """

    alert_id: str
    alert_name: str
    severity: str  # constants.Severity
    category: str  # constants.Category
    type: str  # constants.EventType
    sequence_number: str
    occur_time: int  # epoch ms
    description: str
    recovery_advice: NotRequired[str]
    resource_type: str  # constants.ResourceType (or Delfin's 'Storage')
    location: str  # slot, rack, component... of the alerting part
    match_key: NotRequired[str]  # stable key to deduplicate / match a later clear
    serial_number: NotRequired[str]  # of the storage, to match a trap to a storage
    storage_name: NotRequired[str]
    vendor: NotRequired[str]
    model: NotRequired[str]
    clear_type: NotRequired[str]  # constants.ClearType


ALERT_FIELDS: tuple[str, ...] = tuple(Alert.__annotations__)
"""Every field an alert dict may carry, in Delfin's order."""

INVENTORY_METHODS: tuple[str, ...] = (
    "list_storage_pools",
    "list_volumes",
    "list_controllers",
    "list_ports",
    "list_disks",
    "list_quotas",
    "list_filesystems",
    "list_qtrees",
    "list_shares",
    "list_storage_host_initiators",
    "list_storage_hosts",
    "list_storage_host_groups",
    "list_port_groups",
    "list_volume_groups",
    "list_masking_views",
)
"""The ``list_*`` methods, each ``(self, context)``."""

GROUP_RESULT_KEYS: dict[str, tuple[str, str]] = {
    "list_storage_host_groups": ("storage_host_groups", "storage_host_grp_host_rels"),
    "list_port_groups": ("port_groups", "port_grp_port_rels"),
    "list_volume_groups": ("volume_groups", "vol_grp_vol_rels"),
}
"""Group method -> (groups key, relations key) of Delfin's dict form of its result."""

INTERFACE_METHODS: tuple[str, ...] = (
    "get_storage",
    "reset_connection",
    *INVENTORY_METHODS,
    "add_trap_config",
    "remove_trap_config",
    "parse_alert",
    "list_alerts",
    "clear_alert",
    "get_capabilities",
    "collect_perf_metrics",
    "get_alert_sources",
    "get_latest_perf_timestamp",
)
"""Every interface method; a feature name is a method name."""


class StorageDriver:
    """Base class of every driver. Built as ``Driver(**access_info)``.

    ``access_info`` holds ``storage_id``, ``vendor``, ``model``, the ``rest`` / ``ssh`` /
    ``cli`` / ``smis`` blocks and ``extra_attributes``; passwords arrive decrypted.

    Class attributes a driver sets:

    * ``VERSION`` -- the driver's own version, shown by ``storfleet drivers list``.
    * ``max_concurrency`` -- how many calls the array accepts at once; the framework
      never runs more than that against one storage.
    * ``FEATURES`` -- the interface methods the driver claims to implement. Leave it
      ``None`` (a ported Delfin driver) to derive the claim from the methods overridden.
    """

    VERSION: ClassVar[str] = "0.0.0"
    max_concurrency: ClassVar[int] = 1
    FEATURES: ClassVar[frozenset[str] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("FEATURES")
        if declared is not None:
            features = frozenset(declared)
            unknown = features - set(INTERFACE_METHODS)
            if unknown:
                raise TypeError(
                    f"{cls.__qualname__}.FEATURES names unknown features {sorted(unknown)}; "
                    f"known: {', '.join(INTERFACE_METHODS)}"
                )
            cls.FEATURES = features
        if not isinstance(cls.max_concurrency, int) or cls.max_concurrency < 1:
            raise TypeError(f"{cls.__qualname__}.max_concurrency must be an int >= 1")

    def __init__(self, **kwargs: Any) -> None:
        self.storage_id: str | None = kwargs.get("storage_id")
        self.access_info: dict[str, Any] = dict(kwargs)

    @classmethod
    def supported_features(cls) -> frozenset[str]:
        """The declared ``FEATURES``, or the interface methods this class overrides."""
        if cls.FEATURES is not None:
            return frozenset(cls.FEATURES)
        return frozenset(name for name in INTERFACE_METHODS if cls._overrides(name))

    @classmethod
    def _overrides(cls, name: str) -> bool:
        for klass in cls.__mro__:
            if name in vars(klass):
                return klass is not StorageDriver
        return False

    def close(self) -> None:
        """Release sessions and connections; called when the framework drops the driver
        (access info updated, storage removed). Not a feature: the base does nothing."""

    def _not_supported(self, feature: str) -> NotSupported:
        return NotSupported(f"{type(self).__name__} does not implement {feature}()",
                            feature=feature)

    # --- storage and connection ----------------------------------------------------
    def get_storage(self, context: RequestContext) -> Record:
        """The storage's own record (name, vendor, model, serial_number, status,
        capacities...). Required: registration calls it to check the array."""
        raise self._not_supported("get_storage")

    def reset_connection(self, context: RequestContext, **kwargs: Any) -> None:
        """Reconnect with new access info (``kwargs``) after an update."""
        raise self._not_supported("reset_connection")

    # --- inventory ------------------------------------------------------------------
    def list_storage_pools(self, context: RequestContext) -> Records:
        """Storage pools (``native_storage_pool_id``...)."""
        raise self._not_supported("list_storage_pools")

    def list_volumes(self, context: RequestContext) -> Records:
        """Volumes (``native_volume_id``, ``native_storage_pool_id``...)."""
        raise self._not_supported("list_volumes")

    def list_controllers(self, context: RequestContext) -> Records:
        """Controllers (``native_controller_id``...)."""
        raise self._not_supported("list_controllers")

    def list_ports(self, context: RequestContext) -> Records:
        """Ports (``native_port_id``, ``native_parent_id``...)."""
        raise self._not_supported("list_ports")

    def list_disks(self, context: RequestContext) -> Records:
        """Disks (``native_disk_id``...)."""
        raise self._not_supported("list_disks")

    def list_quotas(self, context: RequestContext) -> Records:
        """Quotas (``native_quota_id``, ``native_filesystem_id``, ``native_qtree_id``...)."""
        raise self._not_supported("list_quotas")

    def list_filesystems(self, context: RequestContext) -> Records:
        """Filesystems (``native_filesystem_id``, ``native_pool_id``...)."""
        raise self._not_supported("list_filesystems")

    def list_qtrees(self, context: RequestContext) -> Records:
        """Qtrees (``native_qtree_id``, ``native_filesystem_id``...)."""
        raise self._not_supported("list_qtrees")

    def list_shares(self, context: RequestContext) -> Records:
        """Shares (``native_share_id``, ``native_filesystem_id``, ``native_qtree_id``...)."""
        raise self._not_supported("list_shares")

    def list_storage_host_initiators(self, context: RequestContext) -> Records:
        """Host initiators (``native_storage_host_initiator_id``, ``native_storage_host_id``,
        ``wwn``, ``type``, ``status``...)."""
        raise self._not_supported("list_storage_host_initiators")

    def list_storage_hosts(self, context: RequestContext) -> Records:
        """Hosts (``native_storage_host_id``, ``os_type``, ``status``, ``ip_address``...)."""
        raise self._not_supported("list_storage_hosts")

    def list_storage_host_groups(self, context: RequestContext) -> GroupResult:
        """Host groups; or Delfin's ``{'storage_host_groups': [...],
        'storage_host_grp_host_rels': [...]}`` to report membership too."""
        raise self._not_supported("list_storage_host_groups")

    def list_port_groups(self, context: RequestContext) -> GroupResult:
        """Port groups; or ``{'port_groups': [...], 'port_grp_port_rels': [...]}``."""
        raise self._not_supported("list_port_groups")

    def list_volume_groups(self, context: RequestContext) -> GroupResult:
        """Volume groups; or ``{'volume_groups': [...], 'vol_grp_vol_rels': [...]}``."""
        raise self._not_supported("list_volume_groups")

    def list_masking_views(self, context: RequestContext) -> Records:
        """Masking views. Host side: one of ``native_storage_host_group_id`` /
        ``native_storage_host_id``; volume side: one of ``native_volume_group_id`` /
        ``native_volume_id``; optionally ``native_port_group_id``."""
        raise self._not_supported("list_masking_views")

    # --- alerts ---------------------------------------------------------------------
    def add_trap_config(self, context: RequestContext, trap_config: Mapping[str, Any]) -> None:
        """Configure the array to send SNMP traps to ``trap_config``'s receiver."""
        raise self._not_supported("add_trap_config")

    def remove_trap_config(self, context: RequestContext, trap_config: Mapping[str, Any]) -> None:
        """Stop the array sending traps to ``trap_config``'s receiver."""
        raise self._not_supported("remove_trap_config")

    @staticmethod
    def parse_alert(context: RequestContext, alert: Mapping[str, Any]) -> Alert:
        """Turn a received SNMP trap (varbind OID/name -> value) into an :class:`Alert`.

        A staticmethod as in Delfin: the trap receiver may parse before it knows which
        driver instance (storage) the trap belongs to.
        """
        raise NotSupported("this driver does not implement parse_alert()",
                           feature="parse_alert")

    def list_alerts(
        self, context: RequestContext, query_para: Mapping[str, Any] | None = None
    ) -> Iterable[Alert]:
        """Current alerts; ``query_para`` may hold ``begin_time`` / ``end_time`` (epoch ms)."""
        raise self._not_supported("list_alerts")

    def clear_alert(self, context: RequestContext, sequence_number: str) -> Any:
        """Clear one alert occurrence on the array."""
        raise self._not_supported("clear_alert")

    def get_alert_sources(self, context: RequestContext) -> Records:
        """Extra SNMP sources (e.g. one per controller IP) that send this storage's traps."""
        raise self._not_supported("get_alert_sources")

    # --- performance ----------------------------------------------------------------
    def get_capabilities(
        self, context: RequestContext, filters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{'is_historic': bool, 'resource_metrics': {resource_type: {metric:
        {'unit': ..., 'description': ...}}}}`` (optionally ``collect_interval``,
        ``performance_metric_retention_window``). Names/units: constants.*Metric."""
        raise self._not_supported("get_capabilities")

    def collect_perf_metrics(
        self,
        context: RequestContext,
        storage_id: str,
        resource_metrics: Mapping[str, Iterable[str]],
        start_time: int,
        end_time: int,
    ) -> Iterable[Any]:
        """:data:`metric_struct` series for ``resource_metrics`` (resource type -> metric
        names) between ``start_time`` and ``end_time`` (epoch ms)."""
        raise self._not_supported("collect_perf_metrics")

    def get_latest_perf_timestamp(self, context: RequestContext) -> int | None:
        """Epoch ms of the newest performance sample on the array (to align collection)."""
        raise self._not_supported("get_latest_perf_timestamp")
