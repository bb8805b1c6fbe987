"""The four stages, each a pure function over one record that returns the record with
new fields or raises ``Reject``, declared as a ``Stage`` (``pipeline/stage.py``) at the end
of its module."""
