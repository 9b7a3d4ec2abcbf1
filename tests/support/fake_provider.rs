//! A fake LLM provider on 127.0.0.1, written on a bare TcpListener so it can stall, reset a
//! connection or cut a stream mid-way, which a mock HTTP library cannot. It records every
//! request it receives and answers each with the [`Reply`] the test's handler picks.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a streamed body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamEnd {
    /// The body is terminated properly.
    Complete,
    /// The connection is reset without ending the body.
    Cut,
    /// Nothing more is sent, and the connection stays open.
    Stall,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A whole response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A 200 streamed in chunks, `delay` before each, then ended as `end` says.
    Stream {
        content_type: &'static str,
        chunks: Vec<String>,
        delay: Duration,
        end: StreamEnd,
    },
    /// Resets the connection without answering.
    Reset,
    /// Never answers.
    Stall,
}

impl Reply {
    /// An error response with a JSON body and extra headers.
    pub fn error(status: u16, body: &str, headers: &[(&str, &str)]) -> Reply {
        Reply::Full {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.to_string(),
        }
    }

    /// A complete SSE stream.
    pub fn sse(chunks: Vec<String>) -> Reply {
        Reply::Stream {
            content_type: "text/event-stream",
            chunks,
            delay: Duration::ZERO,
            end: StreamEnd::Complete,
        }
    }

    /// A complete NDJSON stream.
    pub fn ndjson(chunks: Vec<String>) -> Reply {
        Reply::Stream {
            content_type: "application/x-ndjson",
            chunks,
            delay: Duration::ZERO,
            end: StreamEnd::Complete,
        }
    }

    /// The same stream, ended as `end` says after its first `keep` chunks.
    pub fn end_after(self, keep: usize, end: StreamEnd) -> Reply {
        match self {
            Reply::Stream {
                content_type,
                mut chunks,
                delay,
                ..
            } => {
                chunks.truncate(keep);
                Reply::Stream {
                    content_type,
                    chunks,
                    delay,
                    end,
                }
            }
            other => other,
        }
    }

    /// The same stream sent as one chunk (with `delayed`, a fixed latency per request).
    pub fn merged(self) -> Reply {
        match self {
            Reply::Stream {
                content_type,
                chunks,
                delay,
                end,
            } => Reply::Stream {
                content_type,
                chunks: vec![chunks.concat()],
                delay,
                end,
            },
            other => other,
        }
    }

    /// The same stream with `delay` before each chunk.
    pub fn delayed(self, by: Duration) -> Reply {
        match self {
            Reply::Stream {
                content_type,
                chunks,
                end,
                ..
            } => Reply::Stream {
                content_type,
                chunks,
                delay: by,
                end,
            },
            other => other,
        }
    }
}

/// Anthropic Messages SSE: one event per chunk, ending in `message_stop`.
pub fn anthropic_stream(parts: &[&str], input_tokens: u64, output_tokens: u64) -> Reply {
    let mut chunks = vec![format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"usage\":{{\"input_tokens\":{input_tokens},\"output_tokens\":1}}}}}}\n\n"
    ),
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_string(),
    "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_string()];
    for part in parts {
        chunks.push(format!(
            "event: content_block_delta\ndata: {}\n\n",
            serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":part}})
        ));
    }
    chunks.push("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".to_string());
    chunks.push(format!("event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{output_tokens}}}}}\n\n"));
    chunks.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string());
    Reply::sse(chunks)
}

/// OpenAI Chat Completions SSE: deltas, a usage chunk with empty `choices`, `[DONE]`.
pub fn openai_stream(parts: &[&str], prompt_tokens: u64, completion_tokens: u64) -> Reply {
    let mut chunks = vec![
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n".to_string(),
    ];
    for part in parts {
        chunks.push(format!(
            "data: {}\n\n",
            serde_json::json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":part},"finish_reason":null}],"usage":null})
        ));
    }
    chunks.push("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n".to_string());
    chunks.push(format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"completion_tokens\":{completion_tokens},\"total_tokens\":{}}}}}\n\n", prompt_tokens + completion_tokens));
    chunks.push("data: [DONE]\n\n".to_string());
    Reply::sse(chunks)
}

/// Gemini streamGenerateContent SSE: candidates; the last has `finishReason` and usage.
pub fn google_stream(parts: &[&str], prompt_tokens: u64, output_tokens: u64) -> Reply {
    let n = parts.len();
    let chunks = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut candidate = serde_json::json!({"content":{"parts":[{"text":part}],"role":"model"},"index":0});
            let mut chunk = serde_json::json!({"modelVersion":"m"});
            if i + 1 == n {
                candidate["finishReason"] = "STOP".into();
                chunk["usageMetadata"] = serde_json::json!({"promptTokenCount":prompt_tokens,"candidatesTokenCount":output_tokens,"totalTokenCount":prompt_tokens+output_tokens});
            }
            chunk["candidates"] = serde_json::json!([candidate]);
            format!("data: {chunk}\r\n\r\n")
        })
        .collect();
    Reply::sse(chunks)
}

/// Ollama /api/chat NDJSON: message lines, then a `done` line with counts.
pub fn ollama_stream(parts: &[&str], prompt_tokens: u64, output_tokens: u64) -> Reply {
    let mut chunks: Vec<String> = parts
        .iter()
        .map(|part| {
            format!(
                "{}\n",
                serde_json::json!({"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":part},"done":false})
            )
        })
        .collect();
    chunks.push(format!(
        "{}\n",
        serde_json::json!({"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":prompt_tokens,"eval_count":output_tokens})
    ));
    Reply::ndjson(chunks)
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// The running server; stops when dropped.
pub struct FakeProvider {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    max_in_flight: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    /// Starts a server answering each request with `handler`'s reply.
    pub async fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, i, m) = (received.clone(), in_flight.clone(), max_in_flight.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                socket.set_nodelay(true).ok();
                let (handler, r, i, m) = (handler.clone(), r.clone(), i.clone(), m.clone());
                tokio::spawn(serve(socket, handler, r, i, m));
            }
        });
        FakeProvider {
            url,
            received,
            max_in_flight,
            task,
        }
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The most requests being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

/// The user prompt of a request in any of the four wire formats.
pub fn prompt_of(r: &Received) -> String {
    let body = r.json();
    let text = body
        .pointer("/messages")
        .and_then(|m| m.as_array())
        .and_then(|m| m.last())
        .and_then(|m| m.get("content"))
        .or_else(|| body.pointer("/contents/0/parts/0/text"));
    text.and_then(|t| t.as_str()).unwrap_or_default().to_string()
}

/// A handler answering the n-th request (0-based) with `replies[n]`, the last one after that.
pub fn sequence(replies: Vec<Reply>) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let n = AtomicUsize::new(0);
    move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        replies[i.min(replies.len() - 1)].clone()
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// Answers requests on one connection (kept alive) until a reply ends it.
async fn serve(
    mut socket: TcpStream,
    handler: Arc<Handler>,
    received: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
) {
    while let Some(request) = read_request(&mut socket).await {
        let reply = handler(&request);
        received.lock().unwrap().push(request);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max_in_flight.fetch_max(now, Ordering::SeqCst);
        let keep_alive = answer(&mut socket, reply).await;
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep_alive {
            return;
        }
    }
}

/// Writes one reply; false when the connection must not be used again.
async fn answer(socket: &mut TcpStream, reply: Reply) -> bool {
    match reply {
        Reply::Full { status, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                reason(status),
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            head.push_str(&body);
            socket.write_all(head.as_bytes()).await.is_ok()
        }
        Reply::Stream {
            content_type,
            chunks,
            delay,
            end,
        } => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n");
            if socket.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            for chunk in chunks {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                if socket.write_all(framed.as_bytes()).await.is_err() {
                    return false;
                }
            }
            match end {
                StreamEnd::Complete => socket.write_all(b"0\r\n\r\n").await.is_ok(),
                StreamEnd::Cut => {
                    socket.set_zero_linger().ok();
                    false
                }
                StreamEnd::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    false
                }
            }
        }
        Reply::Reset => {
            socket.set_zero_linger().ok();
            false
        }
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
    }
}
