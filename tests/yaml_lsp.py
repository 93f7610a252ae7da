"""A small Language Server Protocol client for ``yaml-language-server`` over stdio.

It speaks to the server as VS Code's YAML extension (redhat.vscode-yaml) does:
``initialize`` with the client's capabilities and workspace folder,
``initialized``, answers the server's ``workspace/configuration`` requests with
the ``yaml.*`` settings (``yaml.validate``, ``yaml.completion``, ``yaml.hover``,
``yaml.schemas``), then ``textDocument/didOpen``, ``textDocument/completion``
and ``textDocument/hover``, and reads ``textDocument/publishDiagnostics``.
Every wait is bounded by a timeout; :meth:`YamlLanguageServer.close` shuts the
server down and kills it if it does not exit.

Run as a script it prints what completion offers at the tested positions for a
schema file (used for docs/editors.md's before/after table)::

    .venv/bin/python tests/yaml_lsp.py schemas/model-spec.schema.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / ".tools" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


def default_settings(schemas: dict | None = None) -> dict:
    """The ``yaml`` settings section as VS Code sends it, schema store off (this machine has no internet)."""
    return {"validate": True, "completion": True, "hover": True, "format": {"enable": False},
            "schemas": schemas or {}, "schemaStore": {"enable": False},
            "kubernetesCRDStore": {"enable": False}}


class YamlLanguageServer:
    """``yaml-language-server --stdio`` in a subprocess, driven like an editor.

    Args:
        root: the workspace folder (a ``Path``) the editor has open.
        settings: the ``yaml`` settings section (see :func:`default_settings`).
        node: the ``node`` executable.
    """

    def __init__(self, root: Path, settings: dict | None = None, node: str = "node"):
        self.root = Path(root)
        self.settings = settings if settings is not None else default_settings()
        self.process = subprocess.Popen([node, str(SERVER), "--stdio"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._next_id = 0
        self._version = 0  # one counter for every didOpen: the server caches parsed documents by URI and version
        self._responses: dict[int, dict] = {}
        self._diagnostics: dict[str, list] = {}
        self._published: dict[str, int] = {}
        self._changed = threading.Condition()
        self._configured = threading.Event()
        self._writing = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.initialize()

    # --- framing -----------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        with self._writing:
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.process.stdin.flush()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        if "method" in message and "id" in message:  # a request from the server
            self._send({"id": message["id"], "result": self._answer(message["method"], message.get("params"))})
            return
        with self._changed:
            if "id" in message:
                self._responses[message["id"]] = message
            elif message.get("method") == "textDocument/publishDiagnostics":
                uri = message["params"]["uri"]
                self._diagnostics[uri] = message["params"]["diagnostics"]
                self._published[uri] = self._published.get(uri, 0) + 1
            self._changed.notify_all()

    def _answer(self, method: str, params):
        if method == "workspace/configuration":
            self._configured.set()
            sections = {"yaml": self.settings, "http": {}, "[yaml]": {}, "editor": {"tabSize": 2}}
            return [sections.get(item.get("section"), None) for item in params["items"]]
        return None  # client/registerCapability, window/workDoneProgress/create, ...

    # --- requests ----------------------------------------------------------------------------
    def request(self, method: str, params: dict, timeout: float = 30.0):
        """Send a request and return its ``result``; ``TimeoutError`` after ``timeout`` seconds."""
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self._changed:
            while ident not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise TimeoutError(f"no answer to {method} within {timeout} s")
                self._changed.wait(left)
            response = self._responses.pop(ident)
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def notify(self, method: str, params: dict) -> None:
        self._send({"method": method, "params": params})

    def initialize(self) -> None:
        uri = self.root.as_uri()
        capabilities = {
            "workspace": {"configuration": True, "workspaceFolders": True,
                          "didChangeConfiguration": {"dynamicRegistration": True}},
            "textDocument": {
                "synchronization": {"dynamicRegistration": True},
                "completion": {"completionItem": {"snippetSupport": True,
                                                  "documentationFormat": ["markdown", "plaintext"]}},
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "publishDiagnostics": {"relatedInformation": True},
                "formatting": {"dynamicRegistration": True},
            },
        }
        self.request("initialize", {"processId": None, "rootUri": uri, "capabilities": capabilities,
                                    "workspaceFolders": [{"uri": uri, "name": self.root.name}]}, timeout=60)
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": self.settings}})
        if not self._configured.wait(30):
            raise TimeoutError("the server did not ask for its settings (workspace/configuration) within 30 s")
        time.sleep(0.5)  # let it apply them before the first document arrives

    def open(self, path: Path, text: str | None = None, timeout: float = 30.0) -> list:
        """``didOpen`` the file and return the first diagnostics published for it."""
        uri = Path(path).as_uri()
        text = Path(path).read_text("utf-8") if text is None else text
        with self._changed:
            seen = self._published.get(uri, 0)
        self._version += 1
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml",
                                                              "version": self._version, "text": text}})
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._published.get(uri, 0) == seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no diagnostics for {path} within {timeout} s")
                self._changed.wait(left)
            return self._diagnostics[uri]

    def close_document(self, path: Path, timeout: float = 10.0) -> None:
        """``didClose``, then wait for the server's clearing diagnostics so they are not taken for the next open's."""
        uri = Path(path).as_uri()
        with self._changed:
            seen = self._published.get(uri, 0)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._published.get(uri, 0) == seen and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())

    def completion(self, path: Path, line: int, character: int) -> list[dict]:
        """Completion items at 0-based ``line``/``character`` (LSP positions)."""
        result = self.request("textDocument/completion", {
            "textDocument": {"uri": Path(path).as_uri()}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 1}})
        return result["items"] if isinstance(result, dict) else (result or [])

    def hover(self, path: Path, line: int, character: int) -> str:
        """The hover text (markdown) at 0-based ``line``/``character``, ``""`` when none."""
        result = self.request("textDocument/hover", {
            "textDocument": {"uri": Path(path).as_uri()}, "position": {"line": line, "character": character}})
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c["value"] for c in contents)
        return contents if isinstance(contents, str) else contents["value"]

    def close(self) -> None:
        """``shutdown`` and ``exit``; kill the server if it is still running 5 s later."""
        try:
            if self.process.poll() is None:
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
                self.process.wait(timeout=5)
        except (TimeoutError, OSError, subprocess.TimeoutExpired, RuntimeError):
            pass
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=5)
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the positions docs/editors.md reports --------------------------------------------------
# Each: (name, document text after the modeline, 0-based line of the cursor, column).
POSITIONS = [
    ("top level (empty document)", "\n", 0, 0),
    ("optimizer: ", "spec_version: 1\ncompile:\n  optimizer: \n", 2, 13),
    ("loss: ", "spec_version: 1\ncompile:\n  loss: \n", 2, 8),
    ("activation: ", "spec_version: 1\nlayers:\n  - units: 10\n    activation: \n", 3, 16),
    ("type: (in a layer)", "spec_version: 1\nlayers:\n  - type: \n", 2, 10),
    ("kernel_initializer: ", "spec_version: 1\nlayers:\n  - units: 10\n    kernel_initializer: \n", 3, 24),
    ("metrics: - ", "spec_version: 1\ncompile:\n  metrics:\n    - \n", 3, 6),
    ("keys of compile", "spec_version: 1\ncompile:\n  loss: sparse_categorical_crossentropy\n  \n", 3, 2),
    ("keys of a Dense layer", "spec_version: 1\nlayers:\n  - units: 10\n    \n", 3, 4),
    ("keys of an SGD mapping", "spec_version: 1\ncompile:\n  optimizer:\n    type: SGD\n    \n", 4, 4),
    ("sampler: ", "spec_version: 1\nsearch:\n  sampler: \n", 2, 11),
    ("keys of search", "spec_version: 1\nsearch:\n  space: {}\n  \n", 3, 2),
]


def document(schema: Path, body: str) -> str:
    """``body`` under a modeline naming ``schema`` by its absolute path."""
    return f"# yaml-language-server: $schema={Path(schema).resolve()}\n{body}"


def completion_labels(server: YamlLanguageServer, folder: Path, schema: Path, body: str,
                      line: int, column: int, name: str = "doc.yaml") -> list[str]:
    """Labels completion offers in a document with ``body`` at ``line`` (of ``body``) and ``column``."""
    path = folder / name
    text = document(schema, body)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    server.open(path, text)
    try:
        return [item["label"] for item in server.completion(path, line + 1, column)]
    finally:
        server.close_document(path)


def main(argv: list[str]) -> int:
    import tempfile

    schema = Path(argv[1]).resolve()
    with tempfile.TemporaryDirectory() as tmp, YamlLanguageServer(Path(tmp)) as server:
        for name, body, line, column in POSITIONS:
            labels = completion_labels(server, Path(tmp), schema, body, line, column)
            print(f"{name}\t{len(labels)}\t{', '.join(labels)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
