"""Local stand-ins for the places Alertmanager sends to, on 127.0.0.1: they keep what they receive.

One HTTP sink takes Slack webhooks, Telegram's Bot API and plain webhooks (told apart by path); one
SMTP sink takes e-mail. Telegram's sendMessage must answer with a message that has a `chat`:
Alertmanager 0.25 dereferences it, crashes otherwise and drops the notifications queued behind; a
message it cannot decode (a chat id as a string) is a failed attempt, retried, sent twice.
"""
from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    kind: str          # "slack", "telegram", "webhook" or "email"
    path: str          # the URL path (HTTP) or the recipient (e-mail)
    body: dict         # the JSON payload; for e-mail: {"subject", "to", "text", "html"}


class _Sink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def keep(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def take(self) -> list[Received]:
        with self._lock:
            out, self.received = self.received, []
        return out


class HttpSink(_Sink):
    """POST /slack/<receiver>, /telegram/bot<token>/sendMessage, /webhook/<receiver>."""

    def __init__(self) -> None:
        super().__init__()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.path.strip("/").split("/", 1)[0]
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = dict(pair.split("=", 1) for pair in raw.decode().split("&") if "=" in pair)
                sink.keep(Received(kind, self.path, body))
                reply = b"ok"
                if kind == "telegram":
                    reply = json.dumps({"ok": True, "result": {
                        "message_id": len(sink.received), "date": 0, "text": body.get("text", ""),
                        # The chat id as a number: telebot decodes it into an int64.
                        "chat": {"id": int(body.get("chat_id") or 0), "type": "group", "title": "preview"}}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if kind == "telegram" else "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink(_Sink):
    """Just enough SMTP for Alertmanager (EHLO, MAIL, RCPT, DATA, QUIT; no STARTTLS, no AUTH)."""

    def __init__(self) -> None:
        super().__init__()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self._say("220 preview ESMTP")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self._say("250-preview", "250 8BITMIME")
                    elif verb == "RCPT":
                        recipients.append(line.decode().split(":", 1)[1].strip(" <>\r\n"))
                        self._say("250 ok")
                    elif verb == "DATA":
                        self._say("354 go on")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        sink.keep(Received("email", ",".join(recipients), _parse(data)))
                        self._say("250 kept")
                    elif verb == "QUIT":
                        self._say("221 bye")
                        return
                    else:                   # MAIL, RSET, NOOP
                        self._say("250 ok")

            def _say(self, *lines: str) -> None:
                self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _parse(data: bytes) -> dict:
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = {"text": "", "html": ""}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html"):
            parts["text" if kind == "text/plain" else "html"] = part.get_content()
    return {"subject": str(message["Subject"]), "to": str(message["To"]), **parts}
