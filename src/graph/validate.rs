//! Per-field checks shared by the form (as you type) and the embedded server (on PATCH).

use crate::graph::model::{FieldKind, FieldSpec, FieldValue, ImportStatus};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

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
    /// Not `name@domain.tld`.
    #[error("not a user principal name (name@domain.tld)")]
    Upn,
    /// Not base64 / base64url, or does not decode.
    #[error("not base64: {0}")]
    Base64(String),
    /// Not one of the five import states.
    #[error("one of unknown, pending, partial, complete, error")]
    ImportStatus,
    /// Not an integer in int32 range.
    #[error("a whole number from -2147483648 to 2147483647")]
    Int32,
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decodes Edm.Binary text as Graph accepts it: standard base64 or base64url, padded or not.
pub fn decode_binary(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match STANDARD_ANY_PADDING.decode(text) {
        Ok(bytes) => Ok(bytes),
        Err(standard) => URL_SAFE_ANY_PADDING.decode(text).map_err(|_| standard.to_string()),
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
pub fn parse_field(spec: &FieldSpec, text: &str) -> Result<FieldValue, FieldError> {
    if !spec.editable {
        return Err(FieldError::ReadOnly);
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::ControlCharacter);
    }
    if text.is_empty() {
        return if spec.nullable { Ok(FieldValue::Text(None)) } else { Err(FieldError::Required) };
    }
    match spec.kind {
        FieldKind::Key => Err(FieldError::ReadOnly),
        FieldKind::Text => Ok(FieldValue::Text(Some(text.to_string()))),
        FieldKind::Upn if is_upn(text) => Ok(FieldValue::Text(Some(text.to_string()))),
        FieldKind::Upn => Err(FieldError::Upn),
        FieldKind::Binary => {
            decode_binary(text).map(|_| FieldValue::Text(Some(text.to_string()))).map_err(FieldError::Base64)
        }
        FieldKind::ImportStatus => {
            ImportStatus::parse(text).map(FieldValue::Status).ok_or(FieldError::ImportStatus)
        }
        FieldKind::Int32 => text.trim().parse::<i32>().map(FieldValue::Int).map_err(|_| FieldError::Int32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::FieldId;

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
        let tag = FieldId::GroupTag.spec();
        assert_eq!(parse_field(tag, ""), Ok(FieldValue::Text(None)));
        assert_eq!(parse_field(tag, "a\tb"), Err(FieldError::ControlCharacter));
        let code = FieldId::DeviceErrorCode.spec();
        assert_eq!(parse_field(code, "806"), Ok(FieldValue::Int(806)));
        assert_eq!(parse_field(code, "2147483648"), Err(FieldError::Int32));
        assert_eq!(parse_field(code, ""), Err(FieldError::Required));
        assert_eq!(parse_field(FieldId::Id.spec(), "x"), Err(FieldError::ReadOnly));
        assert_eq!(
            parse_field(FieldId::DeviceImportStatus.spec(), "Complete"),
            Err(FieldError::ImportStatus)
        );
        assert!(matches!(parse_field(FieldId::HardwareIdentifier.spec(), "%%%"), Err(FieldError::Base64(_))));
        assert_eq!(parse_field(FieldId::AssignedUserPrincipalName.spec(), "bob"), Err(FieldError::Upn));
    }
}
