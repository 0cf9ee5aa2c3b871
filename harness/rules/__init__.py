"""The file rules and what enforces them.

`policy` decides (changes in, violations out, no I/O); `guard` feeds it the staged changes
or a range of commits; `hooks` installs the git hooks that call the guard (and their fast
path); `meta` writes and reads the human's META_MODE entries; `grants` reads the grants
committed history holds; `audit` checks main's whole history;
`integrity` hashes the FROZEN files a run used; `globs` matches rule patterns;
`appendonly` is the format of the APPEND-ONLY files.

May import: the shared base (errors, config, layout, gitops, fileio, checks).
"""
