"""Background jobs: records in the app's table, a queue, and the worker that runs them.

The web function records a job and sends one SQS message; the worker function
(triggered by the queue) claims it with a conditional write, runs it, and
reports progress and the result back into the record, which the page reads.
Nothing here imports Flask.
"""
