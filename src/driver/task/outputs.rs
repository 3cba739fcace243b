//! Carrying out the core's outputs: dials, pings and close frames, dropping the
//! connection, the fallback's switch, re-authentication, and events for observers.

use crate::driver::lock::lock;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message as WsMessage;
use tracing::Instrument;

use super::{Dialing, Driver, REAUTH_TIMEOUT};
use crate::core::Event;
use crate::core::{Input, Output};
use crate::driver::event::ClientEvent;
use crate::driver::reach::{connect, secure, MaybeTls};
use crate::driver::runtime::BoxFuture;
use crate::driver::secret::Redacted;
use crate::policy::ReachFailure;

impl Driver {
    /// Carry out every output of the core.
    pub(super) fn carry_out(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Dial { attempt, probe } => {
                    self.io.probe = probe;
                    self.dial(attempt, probe)
                }
                Output::AbortDial => self.io.dialing = None,
                Output::SendPing if self.io.ws.is_some() => {
                    self.io.writer.control(WsMessage::Ping(Default::default()));
                }
                Output::SendClose { code, reason } if self.io.ws.is_some() => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    self.io.writer.control(WsMessage::Close(Some(frame)));
                }
                Output::SendPing | Output::SendClose { .. } => {}
                Output::DropConnection => self.end_connection(false, "the connection was dropped"),
                Output::StartFallback => self.io.fallback_on = true,
                Output::StopFallback => self.io.fallback_on = false,
                Output::Reauthenticate => match &self.reauth {
                    Some(f) => {
                        // An application that never answers must not hang the client.
                        let answer = f();
                        let timeout = self.rt.sleep(REAUTH_TIMEOUT);
                        self.io.reauth = Some(Box::pin(futures_lite::future::or(answer, async {
                            timeout.await;
                            tracing::warn!("the re-authentication callback did not answer in time");
                            None
                        })));
                    }
                    None => self.deferred.push_back(Input::ReauthDone { ok: false }),
                },
                Output::Event(event) => self.publish(event),
            }
        }
    }

    pub(super) fn dial(&mut self, attempt: u32, probe: bool) {
        if self.warn_insecure {
            tracing::warn!(url = %Redacted(&self.target.url), "TLS certificate verification is OFF (danger_accept_invalid_certs)");
        }
        let span =
            tracing::info_span!("redial.dial", attempt, probe, url = %Redacted(&self.target.url));
        let (target, headers) = self.dial_with(crate::driver::event::TransportKind::Websocket);
        self.io.dial_with = Some((target.clone(), headers));
        let tls = self.tls.clone();
        let fut: BoxFuture<Result<MaybeTls, ReachFailure>> = match &self.connector {
            Some(c) => {
                let opening = c(&target.url);
                Box::pin(async move { secure(&target, opening.await?, tls).await }.instrument(span))
            }
            None => {
                let network = self.network.clone();
                Box::pin(async move { connect(&target, &network, tls).await }.instrument(span))
            }
        };
        self.io.dialing = Some(Dialing::Connect(fut));
    }

    fn publish(&mut self, event: Event) {
        if let Event::StateChanged { to, cause, .. } = &event {
            tracing::info!(state = %to, cause = %cause, "redial state");
            *lock(&self.shared.state) = *to;
        }
        if let Event::Connected { protocol, .. } = &event {
            lock(&self.shared.protocol).clone_from(protocol);
        }
        self.broadcast(ClientEvent::Core(event));
    }

    pub(super) fn broadcast(&self, event: ClientEvent) {
        {
            let mut subs = lock(&self.shared.subscribers);
            subs.retain(|s| !s.is_closed());
            for s in subs.iter_mut() {
                s.offer(&event);
            }
            let handed_back = match event {
                ClientEvent::Undelivered(m)
                | ClientEvent::Unanswered { message: m, .. }
                | ClientEvent::Unacknowledged { message: m, .. } => Some(m),
                _ => None,
            };
            if let (true, Some(m)) = (subs.is_empty(), handed_back) {
                // Nobody listens: keep it for `Client::take_undelivered`.
                {
                    let mut u = lock(&self.shared.unclaimed);
                    u.push(m);
                }
            }
        }
    }
}
