"""Submit tasks no faster than the `task-submission` limit allows (rate limiting).

slotgate gcl create task-submission --limit 5 --slot-decay-per-second 5
"""

from slotgate import rate_limit


def submit_all(tasks, submit):
    for task in tasks:
        rate_limit("task-submission")  # waits until a slot has drained free
        submit(task)
