"""The search stage: an Optuna study over a spec's ``search:`` space, above ``running/``."""
