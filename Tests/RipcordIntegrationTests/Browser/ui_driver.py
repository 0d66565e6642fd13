#!/usr/bin/env python3
"""Drives a page in a running headless Chromium through the Chrome DevTools Protocol (WebViewTests).

Python 3 standard library only: a minimal RFC 6455 WebSocket client (client frames masked) and a CDP
call on top of it. One command per run, its result printed as one line `RESULT <json>`:

  ui_driver.py --port PORT navigate URL          open URL in the page; wait until it has loaded
  ui_driver.py --port PORT eval EXPRESSION       evaluate (awaiting a promise); the value
  ui_driver.py --port PORT wait EXPRESSION [--timeout S]
                                                 evaluate every 100 ms until the value is truthy;
                                                 exit 2 with the last value after S seconds (default 20)

PORT is Chromium's --remote-debugging-port; the page is the first target of type "page" in /json.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Installed before every document of the page (CDP scripts are not subject to its policy): keeps
# what the test should see go wrong — policy violations, uncaught errors, rejected promises.
WATCH = """
window.__problems = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__problems.push('CSP ' + e.violatedDirective + ' blocked ' + e.blockedURI));
window.addEventListener('error', (e) => window.__problems.push('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.__problems.push('unhandled: ' + String(e.reason)));
"""


class WebSocket:
    """Text messages over one WebSocket connection (RFC 6455), enough for CDP."""

    def __init__(self, url, timeout):
        parts = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise RuntimeError(f"websocket handshake refused: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise RuntimeError("websocket handshake: wrong Sec-WebSocket-Accept")

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("websocket closed by the browser")
        return data

    def _read(self, count):
        while len(self.buffer) < count:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])  # FIN, one frame
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])  # the mask bit: a client masks every frame
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def receive(self):
        """The next text message (fragments joined; pings answered)."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, final = first & 0x0F, first & 0x80
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if final:
                    return message.decode()

    def close(self):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        finally:
            self.sock.close()


class Page:
    """CDP calls to one page target."""

    def __init__(self, port, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as response:
                    targets = json.load(response)
                page = next(t for t in targets if t.get("type") == "page")
                break
            except Exception:  # the browser is still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.ws = WebSocket(page["webSocketDebuggerUrl"], timeout)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:  # anything else is an event: not needed here
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"the expression threw: {text}")
        return result.get("result", {}).get("value")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("command", choices=["navigate", "eval", "wait"])
    parser.add_argument("argument")
    options = parser.parse_args()
    page = Page(options.port, options.timeout)
    try:
        if options.command == "navigate":
            page.call("Page.enable")
            page.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
            page.call("Page.navigate", url=options.argument)
            deadline = time.monotonic() + options.timeout
            while page.evaluate("document.readyState === 'complete' && location.href") != options.argument:
                if time.monotonic() > deadline:
                    print(f"RESULT {json.dumps({'error': 'the page did not load'})}")
                    return 2
                time.sleep(0.05)
            value = options.argument
        elif options.command == "eval":
            value = page.evaluate(options.argument)
        else:
            deadline = time.monotonic() + options.timeout
            value = page.evaluate(options.argument)
            while not value:
                if time.monotonic() > deadline:
                    seen = page.evaluate("document.body ? document.body.innerText.slice(0, 3000) : ''")
                    print(f"RESULT {json.dumps({'timedOut': True, 'last': value, 'page': seen})}")
                    return 2
                time.sleep(0.1)
                value = page.evaluate(options.argument)
        print(f"RESULT {json.dumps({'value': value})}")
        return 0
    finally:
        page.ws.close()


if __name__ == "__main__":
    sys.exit(main())
