"""The web console: server-rendered pages for the IT lead, the integrator and finance.

Pages are Jinja2 templates with a little JavaScript: htmx refreshes the parts users watch (a run in flight),
Apache ECharts draws the overview's charts. Both are installed from the npm registry by ``scripts/setup``
and served by the hub under ``/console/static/vendor``; nothing comes from a CDN, so the console works on
an intranet without internet. Chinese first; ``?lang=en`` (remembered in a cookie) switches to English.

Every page needs a console session (the login page sets it) and a role: the rules are in
:data:`huiliu.web.auth.PERMISSIONS` with the API's. Changes are HTML forms carrying the session's CSRF
token, and are audited like the API's.
"""

from huiliu.web.console.views import STATIC, router

__all__ = ["STATIC", "router"]
