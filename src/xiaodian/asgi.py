"""ASGI entry point for ``xiaodian serve`` and external servers: ``xiaodian.asgi:app``."""

from xiaodian.app import create_app
from xiaodian.settings import load_settings

app = create_app(load_settings())
