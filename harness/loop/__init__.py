"""The loop's own records and its state: ideas, critiques, worktrees, and `harness next`.

`frontmatter` reads and writes an idea's front matter; `ideas` is the idea files and their
status moves; `similarity` warns of near-duplicate ideas; `critique` appends critiques and
picks the next idea; `worktrees` keeps one git worktree per idea; `state` reads the loop's
state from the files and holds the rules of `harness next`; `status` renders it.

May import: `runs`, `record`, `rules`, `queue` and the shared base.
"""
