"""The Odoo emulator: an in-memory Odoo 18 that answers odoorpc over real HTTP.

Its own room beside the Odoo client (``gateway.odoo.client``) and the writers and
readers (``inbound``, ``purchasing``, ``outbound``): nothing of the gateway imports
it except the demo and ``edigw odoo-sandbox``.  ``server`` is the database and the
external API, ``orm`` the records, ``flows`` the business behaviours, ``models/``
the field definitions and ``seed.yaml`` the fresh database.
"""

from gateway.odoo.sandbox.server import DEFAULT_API_KEY, RunningSandbox, Sandbox, serve, start

__all__ = ["DEFAULT_API_KEY", "RunningSandbox", "Sandbox", "serve", "start"]
