"""Drift: the real resources compared with the last applied desired state, reported, and put back when asked.

- ``model``: the typed report (:class:`DriftReport`) and the stack status's summary of the last check.
- ``report``: the engine's refresh-and-diff steps mapped to a report, secrets masked.
- ``rules``: what the platform changes on purpose and is therefore not drift, each rule with its reason.
- ``severity``: how serious a drifted resource is, by what it is.
- ``check``: one check of one environment: guards, the engine call, the report, remediation, notification.
- ``phases``: a drift-check job's phases in the converger (deferred, the applied commit fetched, compared) and their outcomes.
"""
