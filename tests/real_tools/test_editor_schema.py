"""The spec's JSON Schema in a real editor backend: Red Hat's yaml-language-server (what VS Code's YAML
extension runs), driven over stdio as an editor drives it, completes the spec's keys and flags bad values.

Needs node and npm; the server (pinned) is installed into .venv/editor on first use. Skips, saying so,
where npm is missing or cannot install it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest

from stackgen import spec_schema
from tests.conftest import ROOT

SERVER_VERSION = "2.0.0"
PREFIX = ROOT / ".venv" / "editor"
SERVER = PREFIX / "node_modules" / ".bin" / "yaml-language-server"
MODELINE = "# yaml-language-server: $schema=../schema/spec.schema.json\n"
URI = (ROOT / "examples" / "editor-probe.yaml").as_uri()    # never written: the editor's unsaved buffer
SETTINGS = {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}


class _Editor:
    """The client side of the Language Server Protocol, as much as completion and diagnostics need."""

    def __init__(self):
        self.proc = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.ids = 0
        self.responses: dict[int, dict] = {}
        self.diagnostics: dict[int, list] = {}
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": None, "rootUri": ROOT.as_uri(), "capabilities": {
            "textDocument": {"completion": {"completionItem": {"snippetSupport": False}}},
            "workspace": {"configuration": True}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": SETTINGS}})
        self.version = 0

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        while True:
            headers = {}
            while (line := self.proc.stdout.readline().decode().strip()):
                key, value = line.split(":", 1)
                headers[key.lower()] = value.strip()
            if not headers:
                return
            message = json.loads(self.proc.stdout.read(int(headers["content-length"])))
            if "method" in message and "id" in message:      # the server asks (its settings, registrations)
                items = message.get("params", {}).get("items", [])
                result = [SETTINGS] * len(items) if message["method"] == "workspace/configuration" else None
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif "id" in message:
                self.responses[message["id"]] = message
            elif message.get("method") == "textDocument/publishDiagnostics":
                self.diagnostics[message["params"].get("version") or self.version] = message["params"]["diagnostics"]

    def request(self, method: str, params: dict, timeout: float = 60) -> dict:
        self.ids += 1
        self._send({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        end = time.monotonic() + timeout
        while self.ids not in self.responses:
            assert time.monotonic() < end, f"no answer to {method}"
            time.sleep(0.02)
        return self.responses[self.ids].get("result")

    def notify(self, method: str, params: dict) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def type(self, text: str) -> None:
        self.version += 1
        if self.version == 1:
            self.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1,
                                                                  "text": text}})
        else:
            self.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": self.version},
                                                   "contentChanges": [{"text": text}]})

    def complete(self, line: int, character: int) -> set[str]:
        result = self.request("textDocument/completion", {"textDocument": {"uri": URI},
                                                          "position": {"line": line, "character": character}})
        items = result.get("items", []) if isinstance(result, dict) else result or []
        return {item["label"] for item in items}

    def problems(self, timeout: float = 30) -> list[tuple[int, str]]:
        end = time.monotonic() + timeout
        while self.version not in self.diagnostics and time.monotonic() < end:
            time.sleep(0.05)
        return [(d["range"]["start"]["line"], d["message"]) for d in self.diagnostics.get(self.version, [])]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def editor():
    if not SERVER.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.skip("node and npm are not installed (Debian: apt-get install nodejs npm)")
        install = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(PREFIX),
                                  f"yaml-language-server@{SERVER_VERSION}"], capture_output=True, text=True,
                                 timeout=300)
        if install.returncode != 0:
            pytest.skip(f"npm could not install yaml-language-server: {install.stderr.strip()[-200:]}")
    client = _Editor()
    yield client
    client.close()


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((ROOT / spec_schema.SCHEMA_FILE).read_text(encoding="utf-8"))


@pytest.mark.tools
def test_the_editor_completes_the_spec_keys(editor, schema):
    editor.type(MODELINE + "version: tradingmon/v1\n\n")
    assert set(schema["properties"]) - {"version"} <= editor.complete(2, 0)
    editor.type(MODELINE + "version: tradingmon/v1\nglobal:\n  \n")
    assert set(schema["properties"]["global"]["properties"]) <= editor.complete(3, 2)
    editor.type(MODELINE + "version: tradingmon/v1\nalerts:\n  drawdown:\n    \n")
    assert set(schema["properties"]["alerts"]["properties"]["drawdown"]["properties"]) <= editor.complete(4, 4)


@pytest.mark.tools
def test_the_editor_flags_bad_values_as_they_are_typed(editor):
    editor.type(MODELINE + "version: tradingmon/v1\nalerts:\n  drawdown: {warning: 1.5, critical: 0.2}\n"
                "dashboards:\n  - rows:\n      - panels:\n          - {type: gauge2, title: t, description: d}\n"
                "globl: {}\n")
    problems = editor.problems()
    lines = {line for line, _ in problems}
    assert 3 in lines, problems                     # warning: 1.5 (a ratio below 1)
    assert any(line == 7 and "gauge" in message for line, message in problems), problems   # the panel types
    assert any(line == 8 and "globl" in message for line, message in problems), problems   # an unknown key
