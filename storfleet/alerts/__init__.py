"""Alerts: the SNMP trap receiver, alert sources, the stored alert lifecycle, polling,
rules and the alert exporters.

Data flows one way: packets -> decoded traps -> matched to a storage -> parse_alert ->
stored (deduplicated, cleared by recoveries) -> event outbox -> exporters. Each step is
its own module; ``service.TrapService`` wires the receiving side together.
"""
