"""Inference layer: compile once per network/evidence pattern, evaluate on chunks of rows."""
