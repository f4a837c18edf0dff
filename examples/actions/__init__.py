"""Step functions for the bundled example workflows.

Everything here is plain, local Python: no network. Files written to an ``outbox``
directory stand for the outside world (a carrier's API, an email gateway, a warehouse).
"""
