"""Alert sources: which SNMP agents send a storage's traps, and with which credentials.

Validates what a real Delfin accepts on ``PUT /v1/storages/{id}/snmp-config`` (its code's
spellings and its spec's), saves a source with its community string and v3 keys
encrypted together, and turns the stored sources into :class:`SourceEntry` rows for the
receiver's matching table. ``SourceWatcher`` notices a change (a cheap fingerprint of
the table, read every second, or at once through ``notify_changed`` in this process) so
running receivers pick it up without a restart.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from storfleet.secrets import Keyring, SecretKeyError
from storfleet.store import write
from storfleet.store.schema import access_info, alert_source, storage
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

V1, V2C, V3 = "SNMPv1", "SNMPv2c", "SNMPv3"
AUTH_PRIV, AUTH_NO_PRIV, NO_AUTH_NO_PRIV = "authPriv", "authNoPriv", "noAuthnoPriv"
SECRET_FIELDS = ("community_string", "auth_key", "privacy_key")


def _spellings(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """canonical -> accepted spellings, as a lookup from a folded spelling."""
    return {_fold(s): canonical for canonical, spellings in table.items() for s in spellings}


def _fold(text: str) -> str:
    return text.strip().lower().replace("-", "").replace("_", "")


VERSIONS = _spellings({V1: ("SNMPv1", "v1"), V2C: ("SNMPv2c", "v2c"), V3: ("SNMPv3", "v3")})
SECURITY_LEVELS = _spellings(
    {
        AUTH_PRIV: ("authPriv",),
        AUTH_NO_PRIV: ("authNoPriv",),
        NO_AUTH_NO_PRIV: ("noAuthnoPriv", "noAuthNoPriv"),
    }
)
# Delfin's code spells the SHA-2 family "HMCSHA2..." (sic); its spec says MD5 / SHA.
AUTH_PROTOCOLS = _spellings(
    {
        "HMACMD5": ("HMACMD5", "MD5"),
        "HMACSHA": ("HMACSHA", "SHA", "SHA1"),
        "HMCSHA2224": ("HMCSHA2224", "HMACSHA2224", "SHA224"),
        "HMCSHA2256": ("HMCSHA2256", "HMACSHA2256", "SHA256"),
        "HMCSHA2384": ("HMCSHA2384", "HMACSHA2384", "SHA384"),
        "HMCSHA2512": ("HMCSHA2512", "HMACSHA2512", "SHA512"),
    }
)
PRIVACY_PROTOCOLS = _spellings(
    {
        "DES": ("DES",),
        "3DES": ("3DES", "3DESEDE", "DES3"),
        "AES": ("AES", "AES128"),
        "AES192": ("AES192",),
        "AES256": ("AES256",),
    }
)


class InvalidAlertSource(ValueError):
    """A value Delfin would refuse; ``field`` names it (for the API's error_args)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AlertSourceConfig:
    """A validated alert source, canonical spellings, secrets included."""

    version: str
    hosts: tuple[str, ...]
    port: int | None = None
    community_string: str | None = None
    username: str | None = None
    engine_id: str | None = None
    security_level: str | None = None
    auth_protocol: str | None = None
    auth_key: str | None = None
    privacy_protocol: str | None = None
    privacy_key: str | None = None
    context_name: str | None = None
    retry_num: int | None = None
    expiration: int | None = None

    def public_values(self) -> dict[str, Any]:
        """The columns of alert_source but ``secret``."""
        return {
            "version": self.version,
            "hosts": list(self.hosts),
            "port": self.port,
            "username": self.username,
            "engine_id": self.engine_id,
            "security_level": self.security_level,
            "auth_protocol": self.auth_protocol,
            "privacy_protocol": self.privacy_protocol,
            "context_name": self.context_name,
            "retry_num": self.retry_num,
            "expiration": self.expiration,
        }

    def secrets(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in SECRET_FIELDS if getattr(self, k) is not None}


def _choice(table: Mapping[str, str], name: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    found = table.get(_fold(str(value)))
    if found is None:
        allowed = ", ".join(dict.fromkeys(table.values()))
        raise InvalidAlertSource(f"{name} must be one of {allowed}, got {value!r}", name)
    return found


def _text(body: Mapping[str, Any], name: str, low: int = 1, high: int | None = None):
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAlertSource(f"{name} must be a string", name)
    if len(value) < low or (high is not None and len(value) > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise InvalidAlertSource(f"{name} must be {bound} characters long", name)
    return value


def _integer(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidAlertSource(f"{name} must be an integer", name)
    try:
        number = int(value)
    except ValueError:
        raise InvalidAlertSource(f"{name} must be an integer, got {value!r}", name) from None
    if not low <= number <= high:
        raise InvalidAlertSource(f"{name} must be in {low}..{high}, got {number}", name)
    return number


def parse_hosts(value: Any) -> tuple[str, ...]:
    """``host``: one address or several, comma-separated (or a list); IPs only, since a
    trap is matched by the exact address it comes from."""
    if isinstance(value, str):
        items = [h.strip() for h in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(h).strip() for h in value]
    else:
        raise InvalidAlertSource("host is required: the agent's IP address(es)", "host")
    hosts = []
    for item in items:
        if not item:
            continue
        try:
            hosts.append(normalize_address(item))
        except ValueError:
            raise InvalidAlertSource(
                f"host must be IP addresses (comma-separated), got {item!r}", "host"
            ) from None
    if not hosts:
        raise InvalidAlertSource("host is required: the agent's IP address(es)", "host")
    return tuple(dict.fromkeys(hosts))


def normalize_address(text: str) -> str:
    """One spelling per address: compressed IPv6, IPv4-mapped IPv6 as IPv4."""
    address = ipaddress.ip_address(text.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def engine_id_bytes(engine_id: str) -> bytes:
    """Delfin's engine id is hex (as net-snmp's ``-e``), with or without 0x."""
    text = engine_id.strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    return bytes.fromhex(text)


def validate(body: Mapping[str, Any]) -> AlertSourceConfig:
    """An alert source from an API body (Delfin's field names); InvalidAlertSource names
    the first value Delfin would refuse."""
    version = _choice(VERSIONS, "version", body.get("version"))
    if version is None:
        raise InvalidAlertSource("version is required: SNMPv1, SNMPv2c or SNMPv3", "version")
    hosts = parse_hosts(body.get("host", body.get("hosts")))
    common = {
        "version": version,
        "hosts": hosts,
        "port": _integer(body, "port", 1, 65535),
        "context_name": _text(body, "context_name", 0, 255),
        "retry_num": _integer(body, "retry_num", 0, 100),
        "expiration": _integer(body, "expiration", 0, 3600),
    }
    if version in (V1, V2C):
        community = _text(body, "community_string", 1, 32)
        if community is None:
            raise InvalidAlertSource(f"{version} needs community_string", "community_string")
        return AlertSourceConfig(community_string=community, **common)
    level = _choice(SECURITY_LEVELS, "security_level", body.get("security_level"))
    username = _text(body, "username", 1, 32)
    engine_id = _text(body, "engine_id", 9, 64)
    for name, value in (("username", username), ("security_level", level),
                        ("engine_id", engine_id)):
        if value is None:
            raise InvalidAlertSource(f"SNMPv3 needs {name}", name)
    try:
        engine_id_bytes(engine_id)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidAlertSource(
            "engine_id must be hexadecimal (as net-snmp's -e), e.g. 8000000001020304", "engine_id"
        ) from None
    values: dict[str, Any] = {"username": username, "security_level": level,
                              "engine_id": engine_id}
    if level in (AUTH_NO_PRIV, AUTH_PRIV):
        values["auth_protocol"] = _choice(AUTH_PROTOCOLS, "auth_protocol",
                                          body.get("auth_protocol"))
        values["auth_key"] = _text(body, "auth_key", 8, 255)
        for name in ("auth_protocol", "auth_key"):
            if values[name] is None:
                raise InvalidAlertSource(f"{level} needs {name}", name)
    if level == AUTH_PRIV:
        values["privacy_protocol"] = _choice(PRIVACY_PROTOCOLS, "privacy_protocol",
                                             body.get("privacy_protocol"))
        values["privacy_key"] = _text(body, "privacy_key", 8, 255)
        for name in ("privacy_protocol", "privacy_key"):
            if values[name] is None:
                raise InvalidAlertSource(f"{level} needs {name}", name)
    return AlertSourceConfig(**common, **values)


# -- storing --------------------------------------------------------------------------------
_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def on_change(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (from any thread) whenever this process changes a source;
    returns a function that unregisters it."""
    with _listeners_lock:
        _listeners.append(callback)

    def remove() -> None:
        with _listeners_lock:
            if callback in _listeners:
                _listeners.remove(callback)

    return remove


def notify_changed() -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for callback in listeners:
        try:
            callback()
        except Exception:
            log.exception("alert source listener failed")


class UnknownStorage(LookupError):
    """The storage does not exist or is being deleted."""


def save(engine: sa.Engine, keyring: Keyring, storage_id: str,
         config: AlertSourceConfig) -> None:
    """Insert or replace the storage's alert source (secrets encrypted together).
    Raises UnknownStorage when the storage is not registered (or being deleted)."""
    values = {**config.public_values(), "secret": keyring.encrypt_json(config.secrets())}
    now = utcnow()
    with write(engine) as conn:
        live = conn.execute(
            sa.select(storage.c.id).where(storage.c.id == storage_id,
                                          storage.c.deleting.is_(False))
        ).first()
        if live is None:
            raise UnknownStorage(storage_id)
        updated = conn.execute(
            sa.update(alert_source)
            .where(alert_source.c.storage_id == storage_id)
            .values(updated_at=now, **values)
        ).rowcount
        if not updated:
            conn.execute(
                sa.insert(alert_source).values(storage_id=storage_id, created_at=now, **values)
            )
    notify_changed()


def delete(engine: sa.Engine, storage_id: str) -> bool:
    with write(engine) as conn:
        deleted = conn.execute(
            sa.delete(alert_source).where(alert_source.c.storage_id == storage_id)
        ).rowcount
    notify_changed()
    return bool(deleted)


def load(conn: sa.Connection, keyring: Keyring, storage_id: str) -> AlertSourceConfig | None:
    """The stored source with its secrets (for the trap config a driver receives)."""
    row = conn.execute(
        sa.select(alert_source).where(alert_source.c.storage_id == storage_id)
    ).first()
    if row is None:
        return None
    m = row._mapping
    secrets = keyring.decrypt_json(m["secret"], f"the alert source of storage {storage_id}")
    return AlertSourceConfig(
        version=m["version"],
        hosts=tuple(m["hosts"] or ()),
        port=m["port"],
        username=m["username"],
        engine_id=m["engine_id"],
        security_level=m["security_level"],
        auth_protocol=m["auth_protocol"],
        privacy_protocol=m["privacy_protocol"],
        context_name=m["context_name"],
        retry_num=m["retry_num"],
        expiration=m["expiration"],
        **{k: secrets.get(k) for k in SECRET_FIELDS},
    )


# -- the receiver's view ------------------------------------------------------------------
@dataclass(frozen=True)
class SourceEntry:
    """One storage's source as the receiver matches traps against it."""

    storage_id: str
    version: str
    hosts: tuple[str, ...]
    vendor: str
    model: str
    serial_number: str | None = None
    storage_name: str | None = None
    community: bytes | None = None
    username: str | None = None
    engine_id: bytes | None = None
    security_level: str | None = None
    auth_protocol: str | None = None
    auth_key: str | None = field(default=None, repr=False)
    privacy_protocol: str | None = None
    privacy_key: str | None = field(default=None, repr=False)


_ENTRY_QUERY = (
    sa.select(
        alert_source,
        storage.c.serial_number,
        storage.c.name.label("storage_name"),
        access_info.c.vendor,
        access_info.c.model,
    )
    .join(storage, storage.c.id == alert_source.c.storage_id)
    .join(access_info, access_info.c.storage_id == alert_source.c.storage_id)
    .where(storage.c.deleting.is_(False))
    .order_by(alert_source.c.storage_id)
)


def entries(conn: sa.Connection, keyring: Keyring) -> list[SourceEntry]:
    """Every live storage's source, decrypted. A source whose secret cannot be decrypted
    is left out (and logged): the others keep working."""
    out = []
    for row in conn.execute(_ENTRY_QUERY):
        m = row._mapping
        try:
            secrets = keyring.decrypt_json(m["secret"], f"alert source of {m['storage_id']}")
        except SecretKeyError as exc:
            log.error("alert source of storage %s skipped: %s", m["storage_id"], exc)
            continue
        community = secrets.get("community_string")
        engine_id = m["engine_id"]
        try:
            engine = engine_id_bytes(engine_id) if engine_id else None
        except ValueError:
            log.error("alert source of storage %s skipped: engine_id %r is not hex",
                      m["storage_id"], engine_id)
            continue
        out.append(
            SourceEntry(
                storage_id=m["storage_id"],
                version=m["version"],
                hosts=_addresses(m["storage_id"], m["hosts"]),
                vendor=m["vendor"],
                model=m["model"],
                serial_number=m["serial_number"],
                storage_name=m["storage_name"],
                community=community.encode() if community else None,
                username=m["username"],
                engine_id=engine,
                security_level=m["security_level"],
                auth_protocol=m["auth_protocol"],
                auth_key=secrets.get("auth_key"),
                privacy_protocol=m["privacy_protocol"],
                privacy_key=secrets.get("privacy_key"),
            )
        )
    return out


def _addresses(storage_id: str, hosts: Any) -> tuple[str, ...]:
    """The stored hosts as matching compares them; one that is no IP address (saved by an
    older or laxer writer) is left out and logged, the others still match."""
    out = []
    for host in hosts or ():
        try:
            out.append(normalize_address(str(host)))
        except ValueError:
            log.error("alert source of storage %s: host %r is not an IP address; traps are "
                      "matched by exact source address, so it is ignored", storage_id, host)
    return tuple(out)


_FINGERPRINT_QUERY = (
    sa.select(
        alert_source.c.storage_id,
        alert_source.c.created_at,
        alert_source.c.updated_at,
        storage.c.deleting,
        storage.c.serial_number,
        storage.c.name,
        access_info.c.version,
    )
    .join(storage, storage.c.id == alert_source.c.storage_id)
    .join(access_info, access_info.c.storage_id == alert_source.c.storage_id)
    .order_by(alert_source.c.storage_id)
)


def fingerprint(conn: sa.Connection) -> str:
    """Changes whenever a source, or what matching uses of its storage, changes."""
    digest = hashlib.blake2b(digest_size=16)
    for row in conn.execute(_FINGERPRINT_QUERY):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


class SourceWatcher:
    """Calls ``on_reload(entries)`` at start and whenever the sources change: polled every
    ``period_s`` (other processes' changes) and at once on ``notify_changed``."""

    def __init__(
        self,
        engine: sa.Engine,
        keyring: Keyring,
        on_reload: Callable[[list[SourceEntry]], None],
        period_s: float = 1.0,
    ) -> None:
        self.engine, self.keyring, self.on_reload, self.period_s = (
            engine, keyring, on_reload, period_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seen: str | None = None
        self._thread: threading.Thread | None = None
        self._unregister: Callable[[], None] | None = None
        self.reloads = 0

    def check(self) -> bool:
        """Reload if the sources changed; True when it reloaded."""
        with self.engine.connect() as conn:
            current = fingerprint(conn)
            if current == self._seen:
                return False
            loaded = entries(conn, self.keyring)
        self.on_reload(loaded)
        self._seen = current
        self.reloads += 1
        log.info("alert sources loaded: %d storages", len(loaded))
        return True

    def start(self) -> None:
        self.check()
        self._unregister = on_change(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="storfleet-sources",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unregister is not None:
            self._unregister()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.period_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # the database away for a moment: keep the current table
                log.warning("checking alert sources failed", exc_info=True)
