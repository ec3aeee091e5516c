"""Followers (私域): buyers follow shops and creators."""
