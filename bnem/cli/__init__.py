"""The ``bnem`` command line (the only place that configures logging)."""
