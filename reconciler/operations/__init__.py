"""Day-2 operations: one screen of every environment (``status``) and runtime suspension (``suspend``/``resume``)."""
