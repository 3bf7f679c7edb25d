"""Signals the bugs app sends for others to hear (it imports none of its listeners).

Each is sent once the transaction that made the change has committed, so a listener never sees a row
that was rolled back.
"""

from __future__ import annotations

from django.dispatch import Signal

# A comment was posted: ``comment`` (bugs.models.Comment), ``mentioned`` (the active users it named).
comment_posted = Signal()
