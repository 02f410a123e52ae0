"""Vigil's REST API and web console (``vigil serve``): a thin layer over ``Workspace``."""

from vigil.api.app import ServeRefusedError, create_app

__all__ = ["ServeRefusedError", "create_app"]
