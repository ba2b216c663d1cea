"""Background training jobs: the slot queue, stop and heartbeat control, launching, the worker process."""
