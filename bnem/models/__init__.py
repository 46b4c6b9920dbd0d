"""Ready-made networks and what users do with fitted ones (models layer)."""
