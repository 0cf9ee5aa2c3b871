"""Running evaluations and putting them on record.

`runner` runs the smoke command; `streaming` runs a command with its output to the terminal
and a log, with a timeout; `evaluation` is
`harness eval`; `baseline` measures the noise of main; `confirm` runs held-out
confirmations, `confirm_tokens` the tokens of the ones `submit` queued; `verification` is
`harness verify`; `sync` records the queue's tasks that ended without a row; `records` keeps
a run on record from its start; `preflight` checks before a run that its outcome can be
kept; `watchdog` ends a run's processes when the harness dies.

May import: `record`, `rules`, `queue` and the shared base.
"""
