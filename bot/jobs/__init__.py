"""The job pipeline, Discord-free: a job's life from acceptance to its end.

`intake` accepts work (commands, thread messages, buttons) in each conversation's order and
records it; `dispatcher` claims recorded jobs from the store as slots free up; `pipeline`
runs one (history, generation, persisting the outcome, delivering it); `recovery` picks up
after a restart. Discord appears only behind `display.Display`.
"""
