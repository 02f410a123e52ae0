"""The front door's areas: one handle per area over the shared ``Context``.

``Workspace`` wires them; each handle calls its stages' library functions and holds
no state of its own beyond the context.
"""
