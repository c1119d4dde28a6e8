"""The change log: every change to the data tables, recorded per user in S3 (Flask-free).

DynamoDB Streams hand each change (with its old and new image) to the recorder
(``recorder``), which writes it under the user's own ``changes/<sub>/`` prefix
(``keys``, ``record``, ``store``). From the log and the current table a user's
book can be put back as it was at any recorded moment (``moment``), or rebuilt
after a table loss from a backup and the changes since.
"""
