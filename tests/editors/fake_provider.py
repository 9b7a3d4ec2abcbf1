#!/usr/bin/env python3
"""A local stand-in for LLM providers, for the editor tests: answers OpenAI Chat Completions
(`/v1/chat/completions`, streamed or not), Anthropic Messages (`/v1/messages`) and Ollama
(`/api/chat`) with a fixed text. Prints its port on stdout, then serves until killed.
Point the server at it with OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 (and a dummy OPENAI_API_KEY)."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = "Fake answer from the local test provider."


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, body, ctype="application/json"):
        data = body.encode()
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.endswith("/models"):
            self._send(json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}))
        else:
            self._send(json.dumps({"models": []}))

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        stream = bool(req.get("stream"))
        model = req.get("model", "fake")
        usage = {"prompt_tokens": 7, "completion_tokens": 8, "total_tokens": 15}
        if self.path.endswith("/chat/completions"):
            if stream:
                chunks = [
                    {"id": "c1", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": TEXT}, "finish_reason": None}]},
                    {"id": "c1", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage},
                ]
                body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                self._send(body, "text/event-stream")
            else:
                self._send(json.dumps({
                    "id": "c1", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
                    "usage": usage}))
        elif self.path.endswith("/messages"):
            if stream:
                ev = [
                    ("message_start", {"type": "message_start", "message": {"id": "m1", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 7, "output_tokens": 0}}}),
                    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": TEXT}}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 8}}),
                    ("message_stop", {"type": "message_stop"}),
                ]
                self._send("".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in ev), "text/event-stream")
            else:
                self._send(json.dumps({"id": "m1", "type": "message", "role": "assistant", "model": model,
                                       "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn",
                                       "usage": {"input_tokens": 7, "output_tokens": 8}}))
        elif self.path.endswith("/api/chat"):
            if stream:
                lines = [{"model": model, "message": {"role": "assistant", "content": TEXT}, "done": False},
                         {"model": model, "message": {"role": "assistant", "content": ""}, "done": True,
                          "prompt_eval_count": 7, "eval_count": 8}]
                self._send("".join(json.dumps(x) + "\n" for x in lines), "application/x-ndjson")
            else:
                self._send(json.dumps({"model": model, "message": {"role": "assistant", "content": TEXT},
                                       "done": True, "prompt_eval_count": 7, "eval_count": 8}))
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
