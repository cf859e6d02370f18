"""The worker process, and only it: `python -m lib.train RUN_ID` trains one claimed run.

Nothing else imports this package: the scheduler starts it as a process, so TensorFlow's memory,
threads and crashes stay in the worker.
"""
