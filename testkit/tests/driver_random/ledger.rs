//! The ledger oracle: invariants 9, 10 and 13 stated as the design states them, written
//! afresh here from what the servers saw and what the application got, never from the
//! driver's own bookkeeping.
//!
//! - 9: a message given to `send` ends written (in full to a WebSocket, as the client's
//!   bytes show, or carried by a fallback POST that was answered) or handed back (`Undelivered`, or
//!   `Unanswered` when a POST carrying it reached the server unanswered); never lost,
//!   never both.
//! - 9/10: no silent duplicate: every copy a server may hold beyond the first (a body
//!   read twice over the WebSocket, a POST that reached the server and another) is
//!   matched by a `Replayed` event.
//! - 10: a request's stream ends with its terminal message or with an error item, and
//!   an error item tells the truth: "not sent" only if no server ever had the body,
//!   "response started" exactly when items came before it.
//! - 13: every close frame the server sent was answered with a close frame.

use std::collections::HashMap;

use redial::driver::{Message, RequestError};

use super::DONE;

/// One fallback POST as the fallback saw it.
#[derive(Debug, Clone)]
pub struct PostSeen {
    pub body: String,
    /// The body reached the server (it may have acted on it).
    pub written: bool,
    /// A response item of it reached the client.
    pub answered: bool,
}

/// Everything the oracle reads.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Plain messages `send` accepted.
    pub sent: Vec<String>,
    /// Bodies the client wrote in full to a WebSocket (read back from its bytes), plain
    /// messages and requests alike: written, whatever the server then did with them (a
    /// server that sent its close frame first drops them unread, as RFC 6455 allows).
    pub over_ws: Vec<String>,
    pub posts: Vec<PostSeen>,
    /// Messages handed back as `Undelivered`.
    pub undelivered: Vec<String>,
    /// Messages handed back as `Unanswered` (written, maybe delivered).
    pub unanswered: Vec<String>,
    /// `Replayed` events.
    pub replayed: usize,
    /// Requests whose stream the application read to its end, with its items.
    pub requests: Vec<(String, Vec<Result<Message, RequestError>>)>,
    /// Connections on which the server sent a close frame.
    pub closes_sent: Vec<usize>,
    /// Connections on which the server read the client's close frame.
    pub closes_answered: Vec<usize>,
}

/// The rule a case broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A message neither written nor handed back.
    Lost,
    /// A message written and handed back too.
    Both,
    /// `Unanswered` for a message no POST carried to the server.
    FalseUnanswered,
    /// More copies at the servers than first copies plus `Replayed` events.
    SilentDuplicate,
    /// A request's stream ended without its terminal message or an error item.
    Unended,
    /// An error item says "not sent", and a server had the body.
    FalseNotSent,
    /// An error item's "response started" is not what the stream showed.
    FalseStarted,
    /// A server close frame left unanswered.
    UnansweredClose,
}

/// How often each rule had something to judge in a case (its reach).
#[derive(Debug, Clone, Default)]
pub struct Reach(pub HashMap<&'static str, usize>);

impl Reach {
    fn hit(&mut self, what: &'static str) {
        *self.0.entry(what).or_default() += 1;
    }

    pub fn add(&mut self, other: &Reach) {
        for (k, v) in &other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    pub fn get(&self, what: &str) -> usize {
        self.0.get(what).copied().unwrap_or(0)
    }
}

fn count(list: &[String], item: &str) -> usize {
    list.iter().filter(|t| *t == item).count()
}

impl Observed {
    /// Copies of `body` some server may hold: read over the WebSocket, or carried by a
    /// POST that reached the server.
    fn copies(&self, body: &str) -> usize {
        count(&self.over_ws, body)
            + self
                .posts
                .iter()
                .filter(|p| p.body == body && p.written)
                .count()
    }

    fn answered_posts(&self, body: &str) -> usize {
        self.posts
            .iter()
            .filter(|p| p.body == body && p.answered)
            .count()
    }

    /// Check every rule; the first broken one with what broke it. `reach` counts what
    /// each rule judged.
    pub fn check(&self, reach: &mut Reach) -> Result<(), (Rule, String)> {
        for m in &self.sent {
            reach.hit("message");
            let written = count(&self.over_ws, m) + self.answered_posts(m);
            let back = count(&self.undelivered, m) + count(&self.unanswered, m);
            if written == 0 && back == 0 {
                return Err((Rule::Lost, format!("{m}: neither written nor handed back")));
            }
            if written > 0 && back > 0 {
                return Err((
                    Rule::Both,
                    format!("{m}: written {written}×, handed back {back}×"),
                ));
            }
            if count(&self.unanswered, m) > 0 {
                reach.hit("unanswered");
                if !self.posts.iter().any(|p| p.body == *m && p.written) {
                    let msg = format!("{m}: Unanswered, but no POST carried it to the server");
                    return Err((Rule::FalseUnanswered, msg));
                }
            }
        }
        let mut bodies: Vec<&String> = self.sent.iter().collect();
        bodies.extend(self.requests.iter().map(|(id, _)| id));
        bodies.extend(self.posts.iter().map(|p| &p.body));
        bodies.extend(self.over_ws.iter());
        bodies.sort();
        bodies.dedup();
        let extra: usize = bodies
            .iter()
            .map(|b| self.copies(b).saturating_sub(1))
            .sum();
        if extra > 0 {
            reach.hit("duplicate");
        }
        if self.replayed > 0 {
            reach.hit("replayed");
        }
        if extra > self.replayed {
            let msg = format!(
                "{extra} copies beyond the first, {} Replayed events",
                self.replayed
            );
            return Err((Rule::SilentDuplicate, msg));
        }
        for (id, items) in &self.requests {
            reach.hit("request");
            let ended = match items.last() {
                Some(Err(_)) => true,
                Some(Ok(m)) => m.as_text().is_some_and(|t| t.contains(DONE)),
                None => false,
            };
            if !ended {
                return Err((Rule::Unended, format!("{id}: {items:?}")));
            }
            let Some(Err(e)) = items.last() else {
                continue;
            };
            let before = items.len() - 1;
            let (sent, started) = match e {
                RequestError::Interrupted {
                    sent,
                    response_started,
                    ..
                }
                | RequestError::TimedOut {
                    sent,
                    response_started,
                    ..
                } => (*sent, *response_started),
                _ => continue,
            };
            reach.hit("error item");
            if !sent && self.copies(id) > 0 {
                let msg = format!("{id}: {e:?}, and a server had it {}×", self.copies(id));
                return Err((Rule::FalseNotSent, msg));
            }
            if started != (before > 0) {
                let msg = format!("{id}: {e:?} after {before} items");
                return Err((Rule::FalseStarted, msg));
            }
        }
        for c in &self.closes_sent {
            reach.hit("server close");
            if !self.closes_answered.contains(c) {
                let msg = format!("connection {c}: the server's close frame was not answered");
                return Err((Rule::UnansweredClose, msg));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod forged {
    //! Each rule's forged violation: an honest ledger passes, one changed fact is caught
    //! as that rule.

    use super::*;

    fn done(id: &str) -> Message {
        Message::from(format!(r#"{{"type":"{DONE}","id":"{id}"}}"#))
    }

    fn honest() -> Observed {
        Observed {
            sent: vec!["m1".into(), "m2".into(), "m3".into(), "m4".into()],
            over_ws: vec!["m1".into(), "r5".into(), "r5".into()],
            posts: vec![
                PostSeen {
                    body: "m2".into(),
                    written: true,
                    answered: false,
                },
                PostSeen {
                    body: "m2".into(),
                    written: true,
                    answered: true,
                },
                PostSeen {
                    body: "m4".into(),
                    written: true,
                    answered: false,
                },
            ],
            undelivered: vec!["m3".into()],
            unanswered: vec!["m4".into()],
            replayed: 2,
            requests: vec![
                ("r5".into(), vec![Ok(done("r5"))]),
                (
                    "r6".into(),
                    vec![
                        Ok("delta".into()),
                        Err(RequestError::Interrupted {
                            sent: true,
                            response_started: true,
                            cause: "reset".into(),
                        }),
                    ],
                ),
                (
                    "r7".into(),
                    vec![Err(RequestError::Interrupted {
                        sent: false,
                        response_started: false,
                        cause: "refused".into(),
                    })],
                ),
            ],
            closes_sent: vec![1, 2],
            closes_answered: vec![2, 1],
        }
    }

    fn caught(o: &Observed) -> Rule {
        o.check(&mut Reach::default())
            .expect_err("a forged violation")
            .0
    }

    #[test]
    fn the_honest_ledger_passes_and_counts_its_reach() {
        let mut reach = Reach::default();
        honest().check(&mut reach).unwrap();
        assert_eq!(reach.get("message"), 4);
        assert_eq!(reach.get("request"), 3);
        assert_eq!(reach.get("error item"), 2);
        assert_eq!(reach.get("server close"), 2);
        assert_eq!(reach.get("unanswered"), 1);
        assert_eq!(reach.get("duplicate"), 1);
    }

    #[test]
    fn a_lost_message_is_caught() {
        let mut o = honest();
        o.undelivered.clear();
        assert_eq!(caught(&o), Rule::Lost);
    }

    #[test]
    fn a_message_written_and_handed_back_is_caught() {
        let mut o = honest();
        o.undelivered.push("m1".into());
        assert_eq!(caught(&o), Rule::Both);
    }

    #[test]
    fn an_unanswered_message_no_post_carried_is_caught() {
        let mut o = honest();
        o.posts.retain(|p| p.body != "m4");
        assert_eq!(caught(&o), Rule::FalseUnanswered);
    }

    #[test]
    fn a_silent_duplicate_is_caught() {
        let mut o = honest();
        o.replayed = 1;
        assert_eq!(caught(&o), Rule::SilentDuplicate);
        // A plain message re-POSTed without an event: the issue's defect 5.
        let mut o = honest();
        o.posts.push(PostSeen {
            body: "m1".into(),
            written: true,
            answered: false,
        });
        assert_eq!(caught(&o), Rule::SilentDuplicate);
    }

    #[test]
    fn a_request_ended_without_terminal_or_error_is_caught() {
        // The issue's defect 3: the fallback's body ended cleanly after an item.
        let mut o = honest();
        o.requests[0].1 = vec![Ok("delta".into())];
        assert_eq!(caught(&o), Rule::Unended);
    }

    #[test]
    fn a_false_not_sent_is_caught() {
        let mut o = honest();
        o.over_ws.push("r7".into());
        assert_eq!(caught(&o), Rule::FalseNotSent);
    }

    #[test]
    fn a_false_response_started_is_caught() {
        let mut o = honest();
        let _ = o.requests[1].1.remove(0);
        assert_eq!(caught(&o), Rule::FalseStarted);
    }

    #[test]
    fn an_unanswered_server_close_is_caught() {
        let mut o = honest();
        o.closes_answered.retain(|c| *c != 2);
        assert_eq!(caught(&o), Rule::UnansweredClose);
    }
}
