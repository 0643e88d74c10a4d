//! Per-field checks shared by the form (as you type) and the embedded server (on PATCH).

use crate::graph::resource::{Field, Kind};
use crate::terminal_text::{escape_for_terminal, is_invisible, is_terminal_control, visible};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use base64::{DecodeError, Engine};
use serde_json::Value;

/// Why a field's text is not an acceptable value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The field cannot be changed.
    #[error("read-only")]
    ReadOnly,
    /// A non-nullable field was left empty.
    #[error("required: this field cannot be empty")]
    Required,
    /// Tabs, newlines or other control characters.
    #[error("control characters are not allowed")]
    ControlCharacter,
    /// A bidi control or a character that shows as nothing: what is shown would not be what
    /// is sent.
    #[error(
        "invisible character {shown} at position {position} is not allowed (what you see must be what is sent)"
    )]
    Invisible {
        /// The character as shown, `⟨U+200B⟩`.
        shown: String,
        /// Where, counting characters from 1.
        position: usize,
    },
    /// Longer than the field takes.
    #[error("too long: {chars} characters, at most {max}")]
    TooLong {
        /// How long the text is.
        chars: usize,
        /// The field's cap.
        max: usize,
    },
    /// Not `name@domain.tld`.
    #[error("not a user principal name (name@domain.tld)")]
    Upn,
    /// Not base64 / base64url, or does not decode.
    #[error("not base64: {0}")]
    Base64(String),
    /// Not one of the field's values (spelled exactly as Graph spells them).
    #[error("one of {0}")]
    NotOneOf(String),
    /// Not an integer in int32 range.
    #[error("a whole number from -2147483648 to 2147483647")]
    Int32,
    /// Not a timestamp.
    #[error("a timestamp such as 2026-11-28T10:00:00Z")]
    DateTime,
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decodes Edm.Binary text as Graph accepts it: standard base64 or base64url, padded or not.
/// The error says in plain words what is wrong and where (positions count from 1).
pub fn decode_binary(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    // Text with `-` or `_` is base64url; any other text is read as standard base64.
    let engine = if text.contains(['-', '_']) { &URL_SAFE_ANY_PADDING } else { &STANDARD_ANY_PADDING };
    engine.decode(text).map_err(|e| base64_problem(text, &e))
}

/// A base64 decoding error in words: `'=' at position 5463 (padding must be at the end)`.
pub fn base64_problem(text: &str, error: &DecodeError) -> String {
    let at = |offset: usize| {
        let position = text.get(..offset).map_or(offset, |before| before.chars().count()) + 1;
        let c = text.get(offset..).and_then(|rest| rest.chars().next()).unwrap_or('?');
        (format!("'{}'", escape_for_terminal(c.encode_utf8(&mut [0; 4]))), position)
    };
    match *error {
        DecodeError::InvalidByte(offset, b'=') => {
            let (c, p) = at(offset);
            format!("{c} at position {p} (padding must be at the end)")
        }
        DecodeError::InvalidByte(offset, _) => {
            let (c, p) = at(offset);
            format!("{c} at position {p} is not a base64 character")
        }
        DecodeError::InvalidLastSymbol(offset, _) => {
            let (c, p) = at(offset);
            format!("{c} at position {p} cannot end the hash (a character is missing or extra)")
        }
        DecodeError::InvalidLength(_) => {
            format!("{} characters cannot be base64 (a character is missing or extra)", text.chars().count())
        }
        DecodeError::InvalidPadding => "the '=' padding at the end is wrong".to_string(),
    }
}

/// Encodes bytes the way real clients send hashes: standard, padded base64.
pub fn encode_binary(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

/// Whether `text` has the shape `name@domain.tld`. Intune checks only that the domain is valid,
/// so this catches typos (missing `@`, spaces, no dot), not unknown users.
pub fn is_upn(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"@()<>,;:\\\"[]".contains(c))
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && tld.chars().count() >= 2
        && tld.chars().all(char::is_alphabetic)
}

/// Parses the form text of a field into its JSON value, or says why it cannot be sent.
/// An empty editor means `null` for nullable fields.
pub fn parse(field: &Field, text: &str) -> Result<Value, FieldError> {
    if !field.editable || field.kind == Kind::Key {
        return Err(FieldError::ReadOnly);
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::ControlCharacter);
    }
    if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| is_terminal_control(*c) || is_invisible(*c))
    {
        return Err(FieldError::Invisible { shown: visible(c), position: i + 1 });
    }
    let chars = text.chars().count();
    if let Some(max) = field.max_len.filter(|max| chars > *max) {
        return Err(FieldError::TooLong { chars, max });
    }
    if text.is_empty() {
        return if field.nullable { Ok(Value::Null) } else { Err(FieldError::Required) };
    }
    let string = || Ok(Value::String(text.to_string()));
    match field.kind {
        Kind::Key => Err(FieldError::ReadOnly),
        Kind::Text | Kind::Secret => string(),
        Kind::Upn if is_upn(text) => string(),
        Kind::Upn => Err(FieldError::Upn),
        Kind::Binary => decode_binary(text).map_err(FieldError::Base64).and_then(|_| string()),
        Kind::Enum(values) if values.contains(&text) => string(),
        Kind::Enum(values) => Err(FieldError::NotOneOf(values.join(", "))),
        Kind::Int32 => text.trim().parse::<i32>().map(Value::from).map_err(|_| FieldError::Int32),
        Kind::DateTime if crate::graph::timestamp::parse(text).is_some() => string(),
        Kind::DateTime => Err(FieldError::DateTime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;

    fn field(path: &str) -> &'static Field {
        IMPORTED.field(path).unwrap()
    }

    #[test]
    fn upn_shapes() {
        for ok in ["ana@contoso.com", "first.last@sub.contoso.co.uk", "a-b_c+d@x-y.io"] {
            assert!(is_upn(ok), "{ok}");
        }
        for bad in [
            "",
            "ana",
            "ana@",
            "@contoso.com",
            "ana@contoso",
            "ana @contoso.com",
            "a@b@c.com",
            "ana@contoso.c",
            "ana@.com",
            "ana@contoso.123",
        ] {
            assert!(!is_upn(bad), "{bad}");
        }
    }

    #[test]
    fn binary_accepts_both_alphabets_and_padding() {
        assert_eq!(decode_binary("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_binary("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_binary("AAEC").unwrap(), vec![0, 1, 2]);
        assert!(decode_binary("not base64!").is_err());
        assert!(decode_binary("A").is_err());
    }

    #[test]
    fn field_parsing() {
        let tag = field("groupTag");
        assert_eq!(parse(tag, ""), Ok(Value::Null));
        assert_eq!(parse(tag, "a\tb"), Err(FieldError::ControlCharacter));
        let code = field("state/deviceErrorCode");
        assert_eq!(parse(code, "806"), Ok(Value::from(806)));
        assert_eq!(parse(code, "2147483648"), Err(FieldError::Int32));
        assert_eq!(parse(code, ""), Err(FieldError::Required));
        assert_eq!(parse(field("id"), "x"), Err(FieldError::ReadOnly));
        let status = parse(field("state/deviceImportStatus"), "Complete").unwrap_err();
        assert_eq!(status.to_string(), "one of unknown, pending, partial, complete, error");
        assert!(matches!(parse(field("hardwareIdentifier"), "%%%"), Err(FieldError::Base64(_))));
        assert_eq!(parse(field("assignedUserPrincipalName"), "bob"), Err(FieldError::Upn));
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused_by_position() {
        let tag = field("groupTag");
        for (text, shown, position) in [
            ("Sales\u{200b}", "⟨U+200B⟩", 6),
            ("\u{202e}gpj.exe", "⟨U+202E⟩", 1),
            ("a\u{2066}b", "⟨U+2066⟩", 2),
            ("x\u{feff}", "⟨U+FEFF⟩", 2),
            ("tag\u{e0041}", "⟨U+E0041⟩", 4),
        ] {
            let err = parse(tag, text).unwrap_err();
            assert_eq!(err, FieldError::Invisible { shown: shown.into(), position }, "{text:?}");
            assert!(err.to_string().contains(shown), "{err}");
        }
        assert_eq!(parse(tag, "a\u{9b}b"), Err(FieldError::ControlCharacter));
        assert!(parse(tag, "Zürich – 東京").is_ok());
    }

    #[test]
    fn lengths_are_capped_per_field() {
        let tag = field("groupTag");
        assert_eq!(tag.max_len, Some(512));
        assert!(parse(tag, &"é".repeat(512)).is_ok());
        assert_eq!(parse(tag, &"é".repeat(513)), Err(FieldError::TooLong { chars: 513, max: 512 }));
        let err = parse(field("serialNumber"), &"S".repeat(300)).unwrap_err();
        assert_eq!(err.to_string(), "too long: 300 characters, at most 256");
        for resource in [&IMPORTED, &crate::graph::registered::REGISTERED] {
            for f in resource.editable() {
                let text_kind = !matches!(f.kind, Kind::Enum(_) | Kind::Int32);
                assert_eq!(f.max_len.is_some(), text_kind, "{}", f.path);
            }
        }
    }

    #[test]
    fn base64_problems_in_plain_words() {
        let hash = encode_binary(&[7u8; 4096]);
        let mut early_pad = hash.clone();
        early_pad.replace_range(5000..5001, "=");
        let problem = |text: &str| decode_binary(text).err().unwrap_or_default();
        assert_eq!(problem(&early_pad), "'=' at position 5001 (padding must be at the end)");
        assert_eq!(problem("AAE*"), "'*' at position 4 is not a base64 character");
        assert_eq!(problem("AAECA"), "5 characters cannot be base64 (a character is missing or extra)");
        assert_eq!(
            problem("AB=="),
            "'B' at position 2 cannot end the hash (a character is missing or extra)"
        );
        assert_eq!(problem("AA\u{e9}A"), "'é' at position 3 is not a base64 character");
        let err = parse(field("hardwareIdentifier"), &early_pad).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("not base64: '=' at position 5001 (padding must be at the end)")
        );
    }
}
