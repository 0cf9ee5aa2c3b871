"""What the loop shows and sends: reports, plots, the dashboard, and submission.

`report` renders a report from its template; `plots` draws the report's PNG; `svgplot`
draws the dashboard's inline SVG; `dashboard` gathers the page's data and renders it;
`webserver` serves it read-only; `submit` decides a winner and opens its pull request.

May import: `loop`, `runs`, `record`, `rules`, `queue` and the shared base.
"""
