"""The Flask-free core: what an archive is, and how it is written, stored and read back.

Nothing here imports Flask, werkzeug or click (``tests/test_layout.py`` checks):
plain functions and small classes over boto3's low-level clients, raising the
core's own exceptions.
"""
