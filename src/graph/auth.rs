//! Where a bearer token comes from, and the wrapper that keeps secrets out of logs and screens.

use std::fmt;

/// A secret string (token, client secret). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What every shown or logged `Authorization` header value is replaced with.
pub const REDACTED_BEARER: &str = "Bearer [redacted]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("eyJ0eXAiOiJKV1Qi.secret");
        assert!(!format!("{s:?} {s}").contains("eyJ"));
        assert_eq!(s.expose(), "eyJ0eXAiOiJKV1Qi.secret");
    }
}
