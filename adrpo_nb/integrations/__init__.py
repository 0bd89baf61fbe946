"""Integrations with other libraries (optional extras): :mod:`adrpo_nb.integrations.trl` (TRL's GRPOTrainer with a
per-sample β) and :mod:`adrpo_nb.integrations.verl` (verl's actor loss with a per-token β, a ``verl.plugins`` entry
point)."""
