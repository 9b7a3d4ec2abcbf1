#!/usr/bin/env python3
"""A stand-in language server for the editor tests of the client side of running steps: it offers the
six stepwise commands, logs each `workspace/executeCommand` (one JSON line to $STUB_LOG), and reports a
run with server-created `$/progress` (begin, report, end; $STUB_DELAY seconds between). `openOutput`
answers `{"output": "Fake output of STEP"}`, where a position stands for the step as `line N`. Ignores
its arguments (`lsp`)."""
import json
import os
import sys
import threading
import time

LOG = os.environ.get("STUB_LOG", "/dev/null")
DELAY = float(os.environ.get("STUB_DELAY", "0.2"))
COMMANDS = [
    "stepwise.runStep",
    "stepwise.runFrom",
    "stepwise.runWorkflow",
    "stepwise.resume",
    "stepwise.cancel",
    "stepwise.openOutput",
]

out_lock = threading.Lock()
pending = {}  # id of our requests -> threading.Event
next_id = [0]


def send(msg):
    msg["jsonrpc"] = "2.0"
    body = json.dumps(msg).encode()
    with out_lock:
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sys.stdout.buffer.flush()


def read():
    n = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    return json.loads(sys.stdin.buffer.read(n))


def request(method, params):
    next_id[0] += 1
    rid = f"stub-{next_id[0]}"
    ev = threading.Event()
    pending[rid] = ev
    send({"id": rid, "method": method, "params": params})
    ev.wait(5)


def target(arg):
    """The step a one-step command names: its ID, else `line N` of its position."""
    if arg.get("step"):
        return arg["step"]
    if "position" in arg:
        return f"line {arg['position']['line']}"
    return None


def run(msg):
    params = msg.get("params") or {}
    command = params.get("command")
    arg = (params.get("arguments") or [{}])[0]
    with open(LOG, "a") as f:
        f.write(json.dumps({"command": command, "argument": arg}) + "\n")
    result = None
    if command in ("stepwise.runStep", "stepwise.runFrom", "stepwise.runWorkflow", "stepwise.resume"):
        token = f"run-{msg['id']}"
        request("window/workDoneProgress/create", {"token": token})
        what = target(arg) or "workflow"
        send({"method": "$/progress", "params": {"token": token, "value": {
            "kind": "begin", "title": f"Run {what}", "cancellable": True, "message": "starting", "percentage": 0}}})
        time.sleep(DELAY)
        send({"method": "$/progress", "params": {"token": token, "value": {
            "kind": "report", "message": f"{what} 1/2", "percentage": 50}}})
        time.sleep(DELAY)
        send({"method": "$/progress", "params": {"token": token, "value": {"kind": "end", "message": "done"}}})
    elif command == "stepwise.openOutput":
        result = {"output": f"Fake output of {target(arg)}"}
    send({"id": msg["id"], "result": result})


def main():
    while True:
        msg = read()
        if msg is None:
            return
        method = msg.get("method")
        if method is None:  # a response to one of our requests
            ev = pending.pop(msg.get("id"), None)
            if ev:
                ev.set()
            continue
        if "id" not in msg:
            if method == "exit":
                return
            continue
        if method == "initialize":
            send({"id": msg["id"], "result": {
                "capabilities": {
                    "textDocumentSync": 1,
                    "executeCommandProvider": {"commands": COMMANDS},
                },
                "serverInfo": {"name": "stepwise-stub"},
            }})
        elif method == "workspace/executeCommand":
            threading.Thread(target=run, args=(msg,), daemon=True).start()
        else:
            send({"id": msg["id"], "result": None})


if __name__ == "__main__":
    main()
