"""Serve this host's multiprocess metrics on a port of its own: for a host that runs workers and no web."""

from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from shop.metrics.access import bearer_token_matches
from shop.metrics.exposition import metrics_exposition


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  a scrape every 15 s is no news
        pass


def metrics_app(environ, start_response):
    """Answer GET /metrics with the host's histograms for the bearer token; anything else 403 or 404."""
    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if not bearer_token_matches(environ.get("HTTP_AUTHORIZATION", "")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"metrics need the bearer token\n"]
    # The database's figures come from the web hosts' /metrics: here only what this host's processes wrote.
    body = metrics_exposition(database=False)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Content-Length", str(len(body)))])
    return [body]


class Command(BaseCommand):
    help = "Serve GET /metrics (bearer METRICS_TOKEN) with this host's worker histograms, for a host without web."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--bind", default="0.0.0.0")

    def handle(self, *args, port: int, bind: str, **options):
        if not settings.METRICS_TOKEN:
            raise CommandError("METRICS_TOKEN must be set: nothing but a scraper with it may read the metrics")
        server = make_server(bind, port, metrics_app, handler_class=_QuietHandler)
        self.stdout.write(f"metrics of {settings.PROMETHEUS_MULTIPROC_DIR} on http://{bind}:{port}/metrics")
        try:
            server.serve_forever()
        finally:
            server.server_close()
