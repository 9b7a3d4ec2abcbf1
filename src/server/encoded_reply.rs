//! Replies encoded straight from a handler's typed result to the bytes of the message.
//!
//! tower-lsp-server turns every result into a JSON value tree (`serde_json::to_value`) that the
//! transport then writes out: for the whole-file inlay hints of 32,000 steps that tree was about
//! 80 MiB at once for a reply of a few MB. A handler that answers through [`on_snapshot`]
//! serializes its result, with the request's id, into a buffer of exactly the message's size
//! and returns the placeholder `None`; the dispatcher, which sees every request's id, hands the
//! id to the handler in a task-local [`Reply`] and writes the finished message to the wire in
//! place of tower-lsp-server's reply.
//!
//! The request still goes through tower-lsp-server's layers, so a request before `initialize`
//! or after `shutdown` is refused, and `$/cancelRequest` cancels it, exactly as any other: a
//! reply that is an error (a refusal, a cancellation, a panic) is tower-lsp-server's own, and
//! an encoded message left in the slot by then is dropped.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tower_lsp_server::jsonrpc::{Id, Result};
use tower_lsp_server::ls_types::Uri;

use super::Shared;
use super::session::Snapshot;

tokio::task_local! {
    /// The reply of the request whose handler is running (set by the dispatcher).
    static REPLY: Reply;
}

/// The id of a request being served, and its reply once a handler has encoded it.
#[derive(Clone)]
pub(crate) struct Reply {
    id: Id,
    message: Arc<Mutex<Option<Vec<u8>>>>,
}

/// A successful reply as JSON-RPC frames it (the fields of tower-lsp-server's `Response`).
#[derive(Serialize)]
struct Message<'a, R> {
    jsonrpc: &'static str,
    result: &'a R,
    id: &'a Id,
}

impl Reply {
    /// The reply to the request `id`, not yet encoded.
    pub(crate) fn new(id: Id) -> Reply {
        Reply {
            id,
            message: Arc::default(),
        }
    }

    /// Runs `handler` (the request's future) with this reply as the one its handler encodes.
    pub(crate) async fn serve<F: Future>(self, handler: F) -> F::Output {
        REPLY.scope(self, handler).await
    }

    /// The encoded message, if the handler made one.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.message.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Encodes `result` as the whole reply message.
    fn encode<R: Serialize>(&self, result: &R) {
        let message = Message {
            jsonrpc: "2.0",
            result,
            id: &self.id,
        };
        let encoded = crate::json_stream::to_exact_vec(&message).expect("a reply serializes");
        *self.message.lock().unwrap_or_else(|e| e.into_inner()) = Some(encoded);
    }
}

/// Runs `f` on a snapshot of `uri` on the blocking pool, as [`super::on_snapshot`] does, and
/// encodes its result there into the reply of the request being served (returning `None` for
/// tower-lsp-server to send as a placeholder). Outside a request (no reply to encode into),
/// the result is returned as it is.
pub(crate) async fn on_snapshot<T, F>(shared: &Shared, uri: &Uri, f: F) -> Result<Option<T>>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Snapshot) -> Option<T> + Send + 'static,
{
    let reply = REPLY.try_with(Reply::clone).ok();
    super::on_snapshot(shared, uri, move |s| {
        let result = f(s);
        match reply {
            Some(reply) => {
                reply.encode(&result);
                None
            }
            None => result,
        }
    })
    .await
}

/// Runs `write` on a snapshot of `uri` on the blocking pool, as [`on_snapshot`] does, for a
/// handler that writes the whole reply message itself (given the request's id): the inlay
/// hints of a large file, whose one shape is cheaper written by hand than through serde.
pub(crate) async fn on_snapshot_written<T, F>(shared: &Shared, uri: &Uri, write: F) -> Result<Option<T>>
where
    T: Send + 'static,
    F: FnOnce(&Snapshot, &Id) -> Vec<u8> + Send + 'static,
{
    let Ok(reply) = REPLY.try_with(Reply::clone) else {
        tracing::warn!("a reply its handler writes was asked for outside a request; answered with null");
        return Ok(None);
    };
    super::on_snapshot(shared, uri, move |s| {
        let message = write(s, &reply.id);
        *reply.message.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
        None::<T>
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tower_lsp_server::jsonrpc::Response;
    use tower_lsp_server::ls_types::{InlayHint, InlayHintLabel, Position};

    use super::*;

    fn hints(n: u32) -> Vec<InlayHint> {
        (0..n)
            .map(|i| InlayHint {
                position: Position::new(i * 3, 4),
                label: InlayHintLabel::String(format!("← anthropic/claude-sonnet-4-5 · step{i}")),
                kind: None,
                text_edits: None,
                tooltip: None,
                padding_left: Some(true),
                padding_right: None,
                data: Some(json!({ "uri": "file:///w/a.flow.yaml", "version": 7, "step": i })),
            })
            .collect()
    }

    /// The message tower-lsp-server would have sent for `result`.
    fn through_tower<R: Serialize>(id: Id, result: &R) -> Vec<u8> {
        serde_json::to_vec(&Response::from_ok(id, serde_json::to_value(result).unwrap())).unwrap()
    }

    #[test]
    fn an_encoded_reply_is_the_message_tower_lsp_server_would_send() {
        for id in [Id::Number(12), Id::String("a\"b".into())] {
            for result in [Some(hints(50)), Some(Vec::new()), None] {
                let reply = Reply::new(id.clone());
                reply.encode(&result);
                let ours: Value = serde_json::from_slice(&reply.take().unwrap()).unwrap();
                let theirs: Value = serde_json::from_slice(&through_tower(id.clone(), &result)).unwrap();
                assert_eq!(ours, theirs);
            }
        }
    }

    #[test]
    fn an_encoded_reply_is_held_in_a_buffer_of_its_own_size() {
        let reply = Reply::new(Id::Number(1));
        reply.encode(&hints(2_000));
        let message = reply.take().unwrap();
        assert_eq!(message.capacity(), message.len());
    }

    #[test]
    fn a_reply_is_taken_once() {
        let reply = Reply::new(Id::Number(1));
        reply.encode(&hints(1));
        assert!(reply.take().is_some());
        assert!(reply.take().is_none());
    }
}
