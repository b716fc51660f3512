"""Rule families. Each module checks one part of an example; the catalogue lives in `catalog.py`."""

from .. import native

native.attach(__path__, "analysis/rules")
