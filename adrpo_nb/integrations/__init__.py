"""Integrations with other libraries (optional extras): :mod:`adrpo_nb.integrations.trl`."""
