"""Data layer: variable types and DataFrame -> encoded arrays."""
