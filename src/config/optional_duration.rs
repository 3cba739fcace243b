//! Serde for durations that can be switched off: a human duration ("30s") or `"none"`
//! (also `"never"`, `"off"`). TOML has no null, so "off" must be a value of its own;
//! JSON may also use `null`.

use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serializer};

/// The word written for "no duration".
pub(crate) const NONE: &str = "none";

pub(crate) fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_str(NONE),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("none" | "never" | "off") => Ok(None),
        Some(t) => humantime::parse_duration(t).map(Some).map_err(|e| {
            de::Error::custom(format!(
                "invalid duration {t:?} ({e}); use e.g. \"250ms\", \"30s\", \"5m\" or \"none\""
            ))
        }),
    }
}
