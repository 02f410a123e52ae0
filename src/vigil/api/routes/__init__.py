"""HTTP routes, one module per area; each is a thin layer over ``vigil.workspace.Workspace``."""
