"""Serve a WSGI app with waitress; port 0 picks a free port, printed in the URL.

waitress's own limits are set from the app's (body from MAX_CONTENT_LENGTH, header block from
MAX_HEADER_BYTES), so oversized requests are refused from their headers before the body is read,
and the refusals waitress answers itself (413, 431, 400) are JSON like the app's.
"""

import json
import socket
import sys
import time

import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from .app import DEFAULTS

# Idle connections cost a socket, not a thread, so allow many and drop the idle ones soon.
CONNECTION_DEFAULTS = {"connection_limit": 500, "channel_timeout": 30, "cleanup_interval": 5}
LINGER_SECONDS = 2.0  # after a refusal, unread request bytes are dropped this long before closing


class JsonErrorTask(ErrorTask):
    """waitress's own refusals as {"error": ..., "code": ...} instead of plain text."""

    def execute(self):
        error = self.request.error
        body = json.dumps({"error": _refusal_message(error, self.channel.adj), "code": error.code}).encode()
        self.channel.refused = True
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    """A channel whose refusals are JSON and closed gently: once the refusal is sent, the write side
    is shut and the unread rest of the request is read and dropped (up to LINGER_SECONDS), so the
    client sees the answer instead of a connection reset."""

    error_task_class = JsonErrorTask
    refused = False
    drain_until = None

    def handle_close(self):
        if not self.refused or self.drain_until is not None or not self.connected:
            return super().handle_close()
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            return super().handle_close()
        self.will_close = False
        self.drain_until = time.monotonic() + LINGER_SECONDS

    def readable(self):
        return self.drain_until is not None or super().readable()

    def writable(self):
        return self.will_close if self.drain_until is not None else super().writable()

    def handle_read(self):
        if self.drain_until is None:
            return super().handle_read()
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except OSError:
            data = b""
        if not data or time.monotonic() > self.drain_until:
            super().handle_close()


def _refusal_message(error, adj):
    if error.code == 413:
        return f"the request body is larger than the limit of {adj.max_request_body_size - 1} bytes"
    if error.code == 431:
        return f"the request header block is larger than the limit of {adj.max_request_header_size} bytes"
    return f"{error.reason}: {error.body}"


def waitress_limits(app):
    """waitress body and header limits from the app config (waitress refuses sizes >= its limit)."""
    body = app.config.get("MAX_CONTENT_LENGTH") or DEFAULTS["MAX_CONTENT_LENGTH"]
    header = app.config.get("MAX_HEADER_BYTES") or DEFAULTS["MAX_HEADER_BYTES"]
    return {"max_request_body_size": int(body) + 1, "max_request_header_size": int(header)}


def add_server_arguments(parser):
    """The waitress flags shared by ``python -m api`` and ``python -m api.testing``."""
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (default 4)")
    for name, meaning in (
        ("connection_limit", "open connections accepted at once; more wait in the listen backlog"),
        ("channel_timeout", "seconds before an idle connection is closed"),
        ("cleanup_interval", "seconds between checks for idle connections"),
    ):
        default = CONNECTION_DEFAULTS[name]
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=default, help=f"{meaning} (default {default})")


def check_server_arguments(parser, args):
    for name in ("threads", "connection_limit", "channel_timeout", "cleanup_interval"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")


def server_options(args):
    """The waitress keyword arguments given by parsed add_server_arguments flags."""
    return {name: getattr(args, name) for name in ("threads", *CONNECTION_DEFAULTS)}


def make_server(app, host="127.0.0.1", port=5000, **options):
    """A waitress server bound to (host, port); `server.effective_port` is the real port.

    options: waitress settings (threads, connection_limit, ...) over CONNECTION_DEFAULTS and the
    limits from the app config.
    """
    settings = {"threads": 4, **CONNECTION_DEFAULTS, **waitress_limits(app), **options}
    server = waitress.create_server(app, host=host, port=port, ident="mrcnn-api", **settings)
    server.channel_class = JsonErrorChannel
    return server


def server_url(server):
    host = server.effective_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.effective_port}/"


def serve(app, host="127.0.0.1", port=5000, out=sys.stdout, **options):
    """Bind, print 'Serving on <url>' to `out` (flushed), then serve until interrupted."""
    server = make_server(app, host, port, **options)
    threads = server.adj.threads
    print(f"Serving Mask R-CNN API on {server_url(server)} (threads={threads}; Ctrl+C to stop)", file=out, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
