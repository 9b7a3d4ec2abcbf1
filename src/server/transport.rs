//! The wire to the editor: `Content-Length` frames over stdio, read and written here rather
//! than by tower-lsp-server's `Server`, whose decoder ends the input stream at the first bad
//! frame, so the process exits with code 0 and the editor sees a clean exit.
//!
//! A body that is not a JSON-RPC message gets an error reply with a null id (`-32700`, or
//! `-32600` for JSON of the wrong shape) and the server reads on. Bytes that are not a
//! well-formed header are skipped up to the next `Content-Length:`. Only input that cannot be
//! resynchronised ends the server, with an error and so a non-zero exit: a stream that ends
//! inside a message, or a body declared larger than [`MAX_BODY`].

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, SinkExt, StreamExt, TryFutureExt};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower::Service;
use tower_lsp_server::ClientSocket;
use tower_lsp_server::jsonrpc::{Error, Id, Request, Response};

/// The largest body accepted; larger declarations cannot be skipped in bounded time.
pub const MAX_BODY: usize = 1 << 30;

/// The longest header block looked at before it is treated as garbage.
const MAX_HEADERS: usize = 8 * 1024;

/// The header every frame must have, and where resynchronisation restarts.
const CONTENT_LENGTH: &[u8] = b"Content-Length:";

/// Handler futures run at once (as in tower-lsp-server); more wait in a queue of
/// [`QUEUED_REQUESTS`], which holds back reading.
const CONCURRENT_REQUESTS: usize = 4;
const QUEUED_REQUESTS: usize = 100;

/// Input the server cannot resynchronise on.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The client's stream ended in the middle of a message.
    #[error("the client's input ended inside a message ({0})")]
    Truncated(&'static str),
    /// A frame declared a body over [`MAX_BODY`].
    #[error("a message declares a body of {0} bytes, over the limit of {MAX_BODY}")]
    TooLarge(usize),
    /// Reading stdin or writing stdout failed.
    #[error("the connection to the client failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One unit read from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A well-framed body (not yet known to be JSON).
    Body(Vec<u8>),
    /// Bytes that were not a well-formed frame, skipped up to the next header; says why.
    Skipped(String),
}

/// Splits a byte stream into frames, resynchronising on `Content-Length:` after garbage.
pub struct FrameReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Set after bad headers: bytes are dropped until `Content-Length:` starts the buffer.
    resyncing: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `reader`.
    pub fn new(reader: R) -> FrameReader<R> {
        FrameReader {
            reader,
            buf: Vec::new(),
            resyncing: false,
        }
    }

    /// The next frame; `None` when the stream ends between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, FramingError> {
        loop {
            if self.resyncing {
                if let Some(at) = find(&self.buf, CONTENT_LENGTH) {
                    self.buf.drain(..at);
                    self.resyncing = false;
                } else {
                    // Keep a tail that may be the start of a header split across reads.
                    let keep = self.buf.len().min(CONTENT_LENGTH.len() - 1);
                    self.buf.drain(..self.buf.len() - keep);
                    if !self.fill().await? {
                        return Err(FramingError::Truncated("skipped input"));
                    }
                    continue;
                }
            }
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                match content_length(&self.buf[..end]) {
                    Ok(len) if len > MAX_BODY => return Err(FramingError::TooLarge(len)),
                    Ok(len) => {
                        self.buf.drain(..end + 4);
                        return self.body(len).await.map(|b| Some(Frame::Body(b)));
                    }
                    Err(why) => return Ok(Some(self.skip(why))),
                }
            }
            if self.buf.len() > MAX_HEADERS {
                return Ok(Some(self.skip(format!("no end of headers in {MAX_HEADERS} bytes"))));
            }
            if !self.fill().await? {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FramingError::Truncated("headers")),
                };
            }
        }
    }

    /// Starts skipping to the next header (at least one byte, so a bad header is left behind).
    fn skip(&mut self, why: String) -> Frame {
        self.buf.drain(..1);
        self.resyncing = true;
        Frame::Skipped(why)
    }

    /// Reads a body of `len` bytes.
    async fn body(&mut self, len: usize) -> Result<Vec<u8>, FramingError> {
        if self.buf.len() < len {
            self.buf.reserve_exact(len - self.buf.len());
            let missing = len - self.buf.len();
            let read = (&mut self.reader)
                .take(missing as u64)
                .read_to_end(&mut self.buf)
                .await?;
            if read < missing {
                return Err(FramingError::Truncated("body"));
            }
        }
        let rest = self.buf.split_off(len);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Reads more input; `false` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, FramingError> {
        let mut chunk = [0; 8192];
        let n = self.reader.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }
}

/// The body length of a header block, or why the block is not a valid one.
fn content_length(headers: &[u8]) -> Result<usize, String> {
    let mut length = None;
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| "a header that is not UTF-8".to_string())?;
        let Some((name, value)) = text.split_once(':') else {
            return Err(format!("a header without a colon: {:?}", truncate(text)));
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("a malformed header name: {:?}", truncate(name)));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            let parsed = value.parse::<usize>();
            length = Some(parsed.map_err(|_| format!("a Content-Length that is not a number: {:?}", truncate(value)))?);
        }
    }
    length.ok_or_else(|| "a message without a Content-Length header".to_string())
}

/// The first 40 chars of a header, for a log line.
fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A message the client sent: a request or notification for the service, or the reply to
/// one of the server's own requests.
#[derive(Debug)]
enum Incoming {
    Request(Request),
    Response(Response),
}

/// Why a body is not a message, as the JSON-RPC error to reply with.
fn parse_message(body: &[u8]) -> Result<Incoming, (Error, serde_json::Error)> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| (Error::parse_error(), e))?;
    let invalid = |e| (Error::invalid_request(), e);
    if value.get("method").is_some() {
        serde_json::from_value(value).map(Incoming::Request).map_err(invalid)
    } else {
        serde_json::from_value(value).map(Incoming::Response).map_err(invalid)
    }
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Outgoing {
    Response(Response),
    Request(Request),
    /// A whole message the server encoded itself ([`Encoded`]), written as it is; the sender
    /// is told once it is on the wire.
    #[serde(skip)]
    Encoded(Vec<u8>, oneshot::Sender<()>),
}

/// Messages the server encodes itself, bypassing tower-lsp-server's client (which builds a
/// JSON value tree of every message first): each is one complete JSON-RPC message.
/// The writer acknowledges each once it is written, so a message the server sends after it
/// (through tower-lsp-server's client) cannot overtake it.
pub type Encoded = mpsc::Receiver<(Vec<u8>, oneshot::Sender<()>)>;

/// Writes messages to the client, one frame each, until every sender is gone.
async fn write_all<O: AsyncWrite + Unpin>(mut output: O, mut rx: mpsc::Receiver<Outgoing>) -> std::io::Result<()> {
    while let Some(message) = rx.next().await {
        let (body, written) = match message {
            Outgoing::Encoded(body, written) => (body, Some(written)),
            message => (serde_json::to_vec(&message).map_err(std::io::Error::other)?, None),
        };
        output
            .write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
            .await?;
        output.write_all(&body).await?;
        output.flush().await?;
        if let Some(written) = written {
            let _ = written.send(());
        }
    }
    Ok(())
}

/// Serves `service` to the client on `input`/`output` until `exit` or the end of input, with
/// the server's own `encoded` messages.
pub async fn serve<I, O, S>(
    input: I,
    output: O,
    socket: ClientSocket,
    encoded: Encoded,
    mut service: S,
) -> Result<(), FramingError>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    S: Service<Request, Response = Option<Response>>,
    S::Error: std::fmt::Display,
    S::Future: Send + 'static,
{
    let (mut server_requests, mut client_replies) = socket.split();
    let (out_tx, out_rx) = mpsc::channel::<Outgoing>(0);
    let (mut tasks_tx, tasks_rx) = mpsc::channel(QUEUED_REQUESTS);

    let replies = tasks_rx
        .buffer_unordered(CONCURRENT_REQUESTS)
        .filter_map(futures::future::ready)
        .map(|r| Ok(Outgoing::Response(r)))
        .forward(out_tx.clone());
    let to_client = {
        let mut out = out_tx.clone();
        async move {
            while let Some(request) = server_requests.next().await {
                if out.send(Outgoing::Request(request)).await.is_err() {
                    break;
                }
            }
        }
    };
    let (to_client, stop_requests) = futures::future::abortable(to_client);
    let encoded = encoded
        .map(|(body, written)| Ok(Outgoing::Encoded(body, written)))
        .forward(out_tx.clone());
    let (encoded, stop_encoded) = futures::future::abortable(encoded);
    let write = write_all(output, out_rx);

    let read = async {
        let mut errors = out_tx;
        let mut frames = FrameReader::new(input);
        let result = loop {
            let frame = match frames.next().await {
                Ok(Some(frame)) => frame,
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            };
            let body = match frame {
                Frame::Body(body) => body,
                Frame::Skipped(why) => {
                    tracing::warn!("skipped input that is not a frame: {why}");
                    let _ = errors
                        .send(Outgoing::Response(Response::from_error(Id::Null, Error::parse_error())))
                        .await;
                    continue;
                }
            };
            match parse_message(&body) {
                Ok(Incoming::Request(request)) => {
                    if let Err(err) = futures::future::poll_fn(|cx| service.poll_ready(cx)).await {
                        tracing::error!("the service stopped: {err}");
                        break Ok(());
                    }
                    let exit = request.method() == "exit";
                    let reply = service.call(request).unwrap_or_else(|err| {
                        tracing::error!("{err}");
                        None
                    });
                    let _ = tasks_tx.send(reply.boxed()).await;
                    if exit {
                        break Ok(());
                    }
                }
                Ok(Incoming::Response(response)) => {
                    if client_replies.send(response).await.is_err() {
                        break Ok(());
                    }
                }
                Err((error, cause)) => {
                    tracing::warn!("bad message ({} bytes): {cause}", body.len());
                    let _ = errors
                        .send(Outgoing::Response(Response::from_error(Id::Null, error)))
                        .await;
                }
            }
        };
        tasks_tx.disconnect();
        errors.disconnect();
        stop_requests.abort();
        stop_encoded.abort();
        result
    };

    let (_, _, _, written, read) = futures::join!(replies, to_client, encoded, write, read);
    read?;
    written.map_err(FramingError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8]) -> (Vec<Frame>, Option<FramingError>) {
        let mut reader = FrameReader::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => return (out, None),
                Err(err) => return (out, Some(err)),
            }
        }
    }

    fn body(text: &str) -> Frame {
        Frame::Body(text.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn consecutive_frames_are_split_by_their_lengths() {
        let (got, err) = frames(b"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\nContent-Type: x\r\n\r\n[1]").await;
        assert_eq!(got, vec![body("{}"), body("[1]")]);
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn a_frame_without_content_length_is_skipped_up_to_the_next_header() {
        let (got, err) = frames(b"Content-Type: x\r\n\r\n{}Content-Length: 2\r\n\r\n{}").await;
        assert!(
            matches!(&got[0], Frame::Skipped(why) if why.contains("without a Content-Length")),
            "{got:?}"
        );
        assert_eq!(got[1..], [body("{}")]);
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn a_body_without_headers_is_skipped_up_to_the_next_header() {
        let (got, _) = frames(b"{\"a\": 1}Content-Length: 2\r\n\r\n{}").await;
        assert!(matches!(got[0], Frame::Skipped(_)));
        assert_eq!(got[1..], [body("{}")]);
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_body_is_fatal() {
        let (got, err) = frames(b"Content-Length: 10\r\n\r\n{}").await;
        assert!(got.is_empty());
        assert!(matches!(err, Some(FramingError::Truncated("body"))), "{err:?}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_fatal() {
        let (_, err) = frames(format!("Content-Length: {}\r\n\r\n", MAX_BODY + 1).as_bytes()).await;
        assert!(matches!(err, Some(FramingError::TooLarge(_))), "{err:?}");
    }

    #[test]
    fn a_lone_surrogate_and_deep_nesting_are_parse_errors() {
        let surrogate = br#"{"jsonrpc":"2.0","method":"x","params":"\udcff"}"#;
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for body in [&surrogate[..], deep.as_bytes(), b"\xff\xfe"] {
            let code = parse_message(body).map(|_| ()).map_err(|(e, _)| e.code);
            assert_eq!(code, Err(tower_lsp_server::jsonrpc::ErrorCode::ParseError));
        }
    }

    #[test]
    fn json_that_is_no_message_is_an_invalid_request() {
        let code = parse_message(b"{\"hello\": 1}").map(|_| ()).map_err(|(e, _)| e.code);
        assert_eq!(code, Err(tower_lsp_server::jsonrpc::ErrorCode::InvalidRequest));
    }
}
