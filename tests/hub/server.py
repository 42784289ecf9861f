"""A real HTTP server on 127.0.0.1 for the download tests: no network, no mocks.

It serves byte strings under paths, honours ``Range`` (206 / 416), counts every request and
every body byte it sent, and can misbehave on purpose per path: ``cut`` (announce the full
Content-Length, send part of it, close), ``cut_once`` (cut the first GET only), ``status``
(answer with an HTTP error), ``html`` (an HTML page with 200), ``slow`` (wait before answering),
``no_range`` (ignore Range), ``short_length`` (announce ``announce`` bytes, send the whole
body), ``trickle`` (one byte every ``interval`` seconds), ``chunked`` (no Content-Length: the
body ``repeat`` times), ``gzip`` (gzip-compressed, despite ``Accept-Encoding: identity``),
``redirect`` (302 to ``location``). It also stands in for the Hugging Face Hub (``/{repo}/resolve/
{revision}/{path}`` with the headers huggingface_hub needs: X-Repo-Commit, ETag, sizes).
"""

import gzip
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

HTML = b"<!DOCTYPE html><html><body><h1>Access denied</h1></body></html>"
HUB_COMMIT = "a" * 40


@dataclass
class Served:
    body: bytes
    behaviour: str = "ok"
    status: int = 200
    delay: float = 0.0
    cut_at: Optional[int] = None
    announce: Optional[int] = None
    interval: float = 0.0
    repeat: int = 1
    location: str = ""


@dataclass
class Log:
    method: str
    path: str
    range: Optional[str]
    sent: int


@dataclass
class State:
    files: Dict[str, Served] = field(default_factory=dict)
    hub: Dict[Tuple[str, str], bytes] = field(default_factory=dict)  # (repo_id, path) -> body
    log: List[Log] = field(default_factory=list)
    hub_commit: str = HUB_COMMIT  # what the Hub stand-in sends as X-Repo-Commit
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self, path: str, method: str = "GET") -> List[Log]:
        with self.lock:
            return [r for r in self.log if r.path == path and r.method == method]


class Handler(BaseHTTPRequestHandler):
    state: State  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _record(self, sent: int) -> None:
        with self.state.lock:
            self.state.log.append(Log(self.command, self.path, self.headers.get("Range"), sent))

    def _answer(self, head: bool) -> None:
        if self.path.startswith("/api/models/"):
            return self._hub_api(head)
        if "/resolve/" in self.path:
            return self._hub(head)
        served = self.state.files.get(self.path)
        if served is None:
            return self._plain(404, b"not found", head)
        if served.delay:
            time.sleep(served.delay)
        if served.behaviour == "status":
            return self._plain(served.status, b"error", head)
        if served.behaviour == "html":
            return self._plain(200, HTML, head, content_type="text/html")
        if served.behaviour == "redirect":
            return self._plain(302, b"", head, extra={"Location": served.location})
        if served.behaviour == "gzip":
            extra = {"Content-Encoding": "gzip"}
            return self._plain(200, gzip.compress(served.body), head, extra=extra)
        if served.behaviour in ("trickle", "chunked", "short_length"):
            return self._hostile(served, head)
        if served.behaviour == "cut_once":
            cut = not any(r.method == "GET" for r in self.state.requests(self.path))
        else:
            cut = served.behaviour == "cut"
        self._body(served, head, cut)

    def _plain(self, status: int, body: bytes, head: bool, content_type="text/plain", extra=None):
        # Logged before anything is sent: a client may act on the status line (and the test
        # read the log) before this thread runs another line.
        self._record(0 if head else len(body))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _body(self, served: Served, head: bool, cut: bool, extra=None) -> None:
        body, start = served.body, 0
        rng = self.headers.get("Range")
        status = 200
        if rng and served.behaviour != "no_range":
            start = int(rng.split("=", 1)[1].split("-")[0])
            if start >= len(body):
                return self._plain(416, b"", head, extra={"Content-Range": f"bytes */{len(body)}"})
            status = 206
        chunk = body[start:]
        if cut:
            chunk = chunk[: served.cut_at if served.cut_at is not None else len(chunk) // 2]
        self._record(0 if head else len(chunk))  # before sending, as in _plain
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        self.wfile.write(chunk)
        self.wfile.flush()
        if cut:
            self.close_connection = True
            self.connection.shutdown(2)

    def _hostile(self, served: Served, head: bool) -> None:
        """Bodies that never end, end late or do not match their announced length; a client
        hanging up is the expected way for these to stop."""
        body = served.body * served.repeat
        self._record(0 if head else len(body))
        self.send_response(200)
        if served.behaviour == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            announce = served.announce if served.behaviour == "short_length" else None
            self.send_header("Content-Length", str(announce or len(body)))
        self.end_headers()
        if head:
            return
        self.close_connection = True
        try:
            self._send_hostile(served, body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_hostile(self, served: Served, body: bytes) -> None:
        if served.behaviour == "trickle":
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(served.interval)
        elif served.behaviour == "chunked":
            for _ in range(served.repeat):
                piece = served.body
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()

    def _hub(self, head: bool) -> None:
        # /{owner}/{repo}/resolve/{revision}/{path}
        before, _, after = self.path.partition("/resolve/")
        repo_id = before.strip("/")
        revision, _, path = after.partition("/")
        body = self.state.hub.get((repo_id, path))
        if body is None:
            code = "RepoNotFound" if not any(r == repo_id for r, _ in self.state.hub) else None
            extra = {
                "X-Error-Code": code or "EntryNotFound",
                "X-Repo-Commit": self.state.hub_commit,
            }
            return self._plain(404, b"not found", head, extra=extra)
        etag = hashlib.sha256(body).hexdigest()
        extra = {"X-Repo-Commit": self.state.hub_commit, "ETag": f'"{etag}"'}
        self._body(Served(body=body), head, cut=False, extra=extra)

    def _hub_api(self, head: bool) -> None:
        """``/api/models/{repo}/revision/{rev}`` and ``/api/models/{repo}/tree/{rev}``: what
        huggingface_hub's ``snapshot_download`` asks before downloading files."""
        rest = self.path.split("?", 1)[0][len("/api/models/") :]
        owner, repo, action = rest.split("/")[:3]
        repo_id = f"{owner}/{repo}"
        files = {p: b for (r, p), b in self.state.hub.items() if r == repo_id}
        if action == "revision":
            info = {"id": repo_id, "sha": HUB_COMMIT, "siblings": [{"rfilename": p} for p in files]}
        else:
            info = [
                {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for p, b in files.items()
            ]
        self._plain(200, json.dumps(info).encode(), head, content_type="application/json")


class LocalServer:
    """``with LocalServer() as s: s.url("/x")``; ``s.state`` holds files and the request log."""

    def __init__(self) -> None:
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def root(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.root + path

    def serve(self, path: str, body: bytes, **kwargs) -> str:
        self.state.files[path] = Served(body=body, **kwargs)
        return self.url(path)
