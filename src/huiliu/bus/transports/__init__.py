"""Transport implementations; each module has the same shape (``DbTransport`` today)."""
