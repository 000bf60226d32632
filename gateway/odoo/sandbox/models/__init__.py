"""Field definitions of the Odoo sandbox, one YAML file per Odoo application.

Each file maps a model name to ``{description, rec_name, order, inherits, fields}``.
A field is either a short string ``"<type> [relation [inverse field]]"`` or a
mapping with ``type`` in that form plus Odoo's attributes (``string``,
``required``, ``readonly``, ``store``, ``selection``, ``default``, ``digits``,
``company_dependent``).  Names, types, relations and selection values are those
of Odoo 18; ``string`` defaults to the field name the way Odoo derives it.
"""
