//! The model in FellBack: the quiet re-probe, and the fallback's own failures
//! (docs/design.md, invariant 12): a failure that is retried pauses the fallback for a
//! backoff delay while fewer than `fallback.max_failures` came in a row (a response
//! resets the count); any other failure, or the last one, stops the client.
//!
//! A probe that upgrades is on trial: the client goes back to WebSockets only once the
//! probe's connection has been open for `budget.min_uptime` (and it is then stable,
//! like any connection up that long); a close or a drop before that fails the probe,
//! as a failed dial does.

use std::rc::Rc;
use std::time::{Duration, Instant};

use redial::core::Event;
use redial::core::{Cause, Input, Output, StateName as S, Trigger as T};
use redial::policy::{FallbackError, Phase, ProxyFailure, ReachFailure, SocksFailure};

use super::model::{after, Cx, Dial, FbSide, Model, St, Trial};
use super::tables::{backoff_bounds, TOL};

/// Written from the words: 5xx, refused and timeouts are retried; 401/403 and
/// certificate errors are not. Network failures, oversized events, 408 and 429 are
/// retried too; every other status means the fallback will not serve this client.
/// Through a proxy (issue 14): unreachable and its 408, 429 and 5xx retry; its 407 and
/// 401 (credentials), 403 and other answers stop.
/// A request written and left unanswered, a response broken off and an oversized event
/// are retried: the server was there.
fn retried(failure: &FallbackError) -> bool {
    let reach = match failure {
        FallbackError::Reach(reach) => reach,
        FallbackError::Unanswered(_)
        | FallbackError::BrokeOff(_)
        | FallbackError::TooLarge { .. } => return true,
    };
    match reach {
        ReachFailure::Certificate(_) => false,
        ReachFailure::Proxy { failure, .. } => match **failure {
            ProxyFailure::Status { status: s, .. } => {
                s == 408 || s == 429 || (500..600).contains(&s)
            }
            // A SOCKS5 proxy (issue 27): a refused or failed authentication stops, and
            // so does "command not supported" (and its sibling, "address type not
            // supported"), and "not allowed by ruleset" (a refusal, as an HTTP proxy's
            // 403); refused, unreachable, TTL expired, a general failure, a code RFC 1928
            // does not assign, or an answer that is not SOCKS5 at all: transient.
            ProxyFailure::Socks(ref socks) => match socks {
                SocksFailure::Reply { reply, .. } => !matches!(reply, 2 | 7 | 8),
                SocksFailure::Malformed(_) => true,
                SocksFailure::AuthFailed { .. }
                | SocksFailure::NoAcceptableMethod { .. }
                | SocksFailure::CredentialsTooLong => false,
            },
            _ => true,
        },
        ReachFailure::Status { status, .. } => {
            *status == 408 || *status == 429 || (500..600).contains(status)
        }
        // A 3xx is a status too, and not one of those: the fallback is somewhere else.
        ReachFailure::Redirect { .. } => false,
        _ => true,
    }
}

impl Model {
    pub(super) fn fell_back(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
        input: &Input,
        (reprobe_at, probe, trial): (Option<Instant>, Option<Dial>, Option<Trial>),
        mut fb: FbSide,
    ) -> Result<(), String> {
        let c = Rc::clone(&self.cfg);
        let mut next = (reprobe_at, probe.clone());
        let mut trial = trial;
        // The probe's dial or its connection goes with the client.
        let release = |cx: &mut Cx<'_>, probe: bool, trial: bool| {
            if probe {
                cx.actions.push(Output::AbortDial);
            }
            if trial {
                cx.actions.push(Output::DropConnection);
            }
        };
        match (input, probe) {
            (Input::Timeout, probe) => {
                if fb.paused_until.is_some_and(|t| now >= t) {
                    fb.paused_until = None;
                    cx.actions.push(Output::StartFallback);
                }
                if let Some(t) = trial.filter(|t| now >= t.until) {
                    self.go(cx, S::FellBack, T::ProbeOk, S::Open)?;
                    cx.actions.push(Output::StopFallback);
                    self.enter_open_after_trial(now, cx, t);
                    return Ok(());
                }
                match probe {
                    Some(p) if now >= p.deadline => {
                        cx.actions.push(Output::AbortDial);
                        next = self.probe_failed(now);
                    }
                    None if trial.is_none() && reprobe_at.is_some_and(|t| now >= t) => {
                        cx.actions.push(Output::Dial {
                            attempt: 0,
                            probe: true,
                        });
                        next.1 = Some(Dial {
                            handshake: false,
                            deadline: after(now, c.timeouts.connect),
                        });
                    }
                    _ => {}
                }
            }
            (Input::DialProgress(Phase::Handshake), Some(p)) if !p.handshake => {
                next.1 = Some(Dial {
                    handshake: true,
                    deadline: after(now, c.timeouts.handshake),
                });
            }
            (Input::DialSucceeded, Some(_)) => {
                next.1 = None;
                trial = Some(Trial {
                    until: after(now, c.budget.min_uptime),
                    received: false,
                });
            }
            (Input::Received, _) => {
                if let Some(t) = trial.as_mut() {
                    t.received = true;
                }
            }
            (Input::PeerClosed { .. } | Input::Dropped { .. }, _) if trial.is_some() => {
                trial = None;
                next = self.probe_failed(now);
            }
            (Input::DialFailed(_), Some(_)) => next = self.probe_failed(now),
            (Input::FallbackReady, _) => {
                fb = FbSide {
                    paused_until: fb.paused_until,
                    ..FbSide::default()
                }
            }
            (Input::FallbackFailed { failure }, p) => {
                fb.failures += 1;
                let max = c.fallback.max_failures;
                if retried(failure) && fb.failures < max {
                    if fb.paused_until.is_none() {
                        cx.actions.push(Output::StopFallback);
                    }
                    let delay = self.fallback_pause(cx, failure, &mut fb)?;
                    let until = after(now, delay);
                    fb.paused_until = Some(fb.paused_until.map_or(until, |p| p.max(until)));
                } else {
                    release(cx, p.is_some(), trial.is_some());
                    cx.actions.push(Output::StopFallback);
                    let cause = self.go(cx, S::FellBack, T::FallbackFailed, S::Stopped)?;
                    if !matches!(cause, Cause::FallbackFailed { failure: f, .. } if f == failure) {
                        return Err(format!("a fallback stop with the cause {cause:?}"));
                    }
                    cx.gave_up += 1;
                    self.st = St::Stopped;
                    return Ok(());
                }
            }
            (Input::UserClose, p) => {
                release(cx, p.is_some(), trial.is_some());
                cx.actions.push(Output::StopFallback);
                return self.stop(cx, S::FellBack, T::UserClose, false);
            }
            _ => {}
        }
        self.st = St::FellBack {
            reprobe_at: next.0,
            probe: next.1,
            trial,
            fb,
        };
        Ok(())
    }

    /// The pause after a retried fallback failure: the core's `FallbackFailed` event
    /// must count the failure and pick a delay within the backoff's bounds (raised to the
    /// overload minimum for a 429 without `Retry-After`, to a capped `Retry-After`).
    fn fallback_pause(
        &mut self,
        cx: &mut Cx<'_>,
        failure: &FallbackError,
        fb: &mut FbSide,
    ) -> Result<Duration, String> {
        let c = Rc::clone(&self.cfg);
        let previous = fb.prev.unwrap_or(c.backoff.base);
        let (mut lo, mut hi) = backoff_bounds(&c, fb.n, previous);
        fb.n += 1;
        let asked = failure
            .retry_after()
            .map(|a| a.min(c.delays.max_retry_after));
        if failure.status() == Some(429) && asked.is_none() {
            (lo, hi) = (lo.max(c.delays.overload_min), hi.max(c.delays.overload_min));
        }
        if let Some(wait) = asked {
            (lo, hi) = (lo.max(wait), hi.max(wait));
        }
        let (lo, hi) = (lo.saturating_sub(TOL), hi + TOL);
        match cx.next()? {
            Event::FallbackFailed {
                failure: f,
                failures,
                max_failures,
                retry_in,
                ..
            } if f == failure
                && (*failures, *max_failures) == (fb.failures, c.fallback.max_failures)
                && (lo..=hi).contains(retry_in) =>
            {
                fb.prev = Some(*retry_in);
                Ok(*retry_in)
            }
            other => Err(format!(
                "model expected FallbackFailed (failure {} of {}, pause in [{lo:?}, {hi:?}]); core: {other:?}",
                fb.failures, c.fallback.max_failures
            )),
        }
    }
}
