//! An in-task [`Connection`] split into a sending half and a receiving half, each for
//! its own task, as `WebSocketStream::split` gives them.
//!
//! Not `StreamExt::split`: its sink keeps one message in a slot of its own until the
//! next poll, so a message it accepted just before the client stopped is lost without a
//! hand-back. These halves keep nothing: a message goes into the client's send queue at
//! once, or comes back in the error.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::Stream;
use futures_util::Sink;

use super::connection::{Connection, ConnectionError};
use super::event::Incoming;
use super::lock::lock;
use super::message::Message;

/// The sending half of a split [`Connection`] (see [`Connection::split`]).
#[derive(Debug)]
pub struct ConnectionSink(Arc<Mutex<Connection>>);

/// The receiving half of a split [`Connection`] (see [`Connection::split`]).
#[derive(Debug)]
pub struct ConnectionStream(Arc<Mutex<Connection>>);

impl Connection {
    /// Split into a sending half and a receiving half, to be used from two tasks (a
    /// writer and a reader): each makes progress from whichever task polls it.
    /// Unlike `StreamExt::split`, the sending half keeps no message of its own, so
    /// nothing it accepted can be lost when the client stops.
    pub fn split(self) -> (ConnectionSink, ConnectionStream) {
        let shared = Arc::new(Mutex::new(self));
        (ConnectionSink(shared.clone()), ConnectionStream(shared))
    }
}

impl Stream for ConnectionStream {
    type Item = Incoming;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        Pin::new(&mut *lock(&self.0)).poll_next(cx)
    }
}

impl Sink<Message> for ConnectionSink {
    type Error = ConnectionError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *lock(&self.0)).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        Pin::new(&mut *lock(&self.0)).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *lock(&self.0)).poll_close(cx)
    }
}
