"""Plans: the pure diff of desired, state and observed, and its saved form."""

from catalogctl.plan.model import Action, Change, Drift, Mode, Plan

__all__ = ["Action", "Change", "Drift", "Mode", "Plan"]
