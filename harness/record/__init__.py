"""The record: results.tsv, the research journal, and the decisions read from them.

`schema` declares the columns; `metrics` reads the values a run reports (its JSON
file or its `---` summary lines); `results` appends rows under the lock and reads them with
polars, checking `chain` (each row seals the ones before it); `views` shapes them for the
command line; `journal` writes the journal's entries;
`compare` measures noise and compares two sides; `standing` decides whether an idea wins;
`importing` adopts a results table of another layout; `commit` commits the record on main.

May import: `rules` and the shared base.
"""
