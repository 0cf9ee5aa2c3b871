"""What the loop shows and sends: reports, plots, the dashboard, and submission.

`report` renders a report from its template; `svgplot` draws the one chart, inline in
the dashboard and as the report's SVG file; `dashboard` gathers the page's data and renders it;
`webserver` serves it read-only; `submit` decides a winner and opens its pull request;
`confirming` queues its held-out confirmation and decides from those runs alone.

May import: `loop`, `runs`, `record`, `rules`, `queue` and the shared base.
"""
