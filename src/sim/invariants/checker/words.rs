//! The mission's bug, as a rule on what a cause says: a close with any code but 1000
//! must not read as a normal closure ("Connection closed normally" after a 1008).

use crate::core::{Cause, Failure};

/// The sentence of `cause` in redial's own words: the server's close reason, which is
/// quoted and may say anything ("closed normally" after a 1001, say), is left out.
pub(super) fn own_words(cause: &Cause) -> String {
    let sentence = cause.to_string();
    match cause.failure() {
        Some(Failure::Closed { reason, .. }) if !reason.is_empty() => {
            sentence.replace(&reason.to_string(), "a reason")
        }
        _ => sentence,
    }
}

/// Whether `sentence`, the cause of a close with `code`, calls a close other than 1000
/// normal.
pub(super) fn calls_normal(sentence: &str, code: Option<u16>) -> bool {
    let normal = sentence.contains("closed normally") || sentence.contains("(normal closure)");
    normal && code.is_some_and(|c| c != 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CloseReason;
    use crate::policy::classify_close;
    use std::time::Duration;

    fn closed(code: u16, reason: &str) -> Cause {
        Cause::WaitForDemand {
            failure: Failure::Closed {
                code: Some(code),
                reason: CloseReason::from_bytes(reason.as_bytes()),
                class: classify_close(Some(code)),
                after_upgrade: Duration::from_secs(6),
                received: true,
            },
        }
    }

    #[test]
    fn own_words_leave_out_the_servers_reason_and_nothing_else() {
        let quoted = closed(1001, "closed normally");
        let full = quoted.to_string();
        assert!(full.contains(r#"reason "closed normally""#), "{full}");
        let own = own_words(&quoted);
        assert_eq!(own, full.replace(r#"reason "closed normally""#, "a reason"));
        assert!(own.contains("1001"), "{own}");
        assert!(!calls_normal(&own, Some(1001)), "{own}");
        // No reason: the whole sentence, "empty reason" included.
        let bare = closed(1001, "");
        assert_eq!(own_words(&bare), bare.to_string());
        assert!(own_words(&bare).contains("empty reason"));
        assert_eq!(own_words(&Cause::UserClose), Cause::UserClose.to_string());
    }

    #[test]
    fn a_close_other_than_1000_called_normal_breaks_the_rule() {
        for sentence in [
            "server closed the WebSocket with 1008, closed normally",
            "server closed the WebSocket with 1008 (normal closure)",
        ] {
            assert!(calls_normal(sentence, Some(1008)), "{sentence}");
            assert!(calls_normal(sentence, Some(1001)), "{sentence}");
            // 1000 is the normal closure; a cause with no code is not a close.
            assert!(!calls_normal(sentence, Some(1000)), "{sentence}");
            assert!(!calls_normal(sentence, None), "{sentence}");
        }
        let plain = "server closed the WebSocket with 1008 (policy violation)";
        assert!(!calls_normal(plain, Some(1008)));
    }
}
