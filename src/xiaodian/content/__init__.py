"""Content commerce: short videos with products attached."""
