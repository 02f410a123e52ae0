"""Vigil's REST API and web console (``vigil serve``): a thin layer over ``Workspace``."""

from vigil.api.app import create_app
from vigil.errors import ServeRefusedError

__all__ = ["ServeRefusedError", "create_app"]
