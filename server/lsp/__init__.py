"""tuneline's language server: translates the analysis engine's findings and numbers into LSP, and schedules work.

No rule logic lives here. `server.py` builds the server; `documents.py` keeps the editor's text; `scheduler.py`
runs analysis off the event loop; `features/` holds one small module per LSP feature.
"""
