//! JSON that must be an object: a JOSE header (RFC 7515 §5.2), a claims set (RFC 7519
//! §7.2) and a JWK Set (RFC 7517 §5). serde's derived structs also accept arrays, so the
//! shape is checked first; and serde_json skips the members a struct ignores without
//! checking their UTF-8, so the whole text is checked first too.

use serde::Deserialize;

/// Why a JSON text could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, or JSON but not an object.
    NotAnObject,
    /// An object whose members have the wrong types or are missing.
    Shape,
}

/// Deserializes `json` if and only if it is a UTF-8 JSON object (RFC 7515 §5.2 step 4:
/// "a UTF-8-encoded representation of a completely valid JSON object", every member of it).
pub(crate) fn from_object<'a, D: Deserialize<'a>>(json: &'a [u8]) -> Result<D, JsonError> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(JsonError::NotAnObject);
    }
    let text = std::str::from_utf8(json).map_err(|_| JsonError::NotAnObject)?;
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            JsonError::Shape
        } else {
            JsonError::NotAnObject
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Sub {
        #[allow(dead_code)]
        sub: String,
    }

    #[test]
    fn only_objects() {
        assert!(from_object::<Sub>(br#" {"sub":"a"}"#).is_ok());
        assert_eq!(
            from_object::<Sub>(br#"["a"]"#).unwrap_err(),
            JsonError::NotAnObject
        );
        assert_eq!(
            from_object::<Sub>(b"foo").unwrap_err(),
            JsonError::NotAnObject
        );
        assert_eq!(
            from_object::<Sub>(br#"{"sub":1}"#).unwrap_err(),
            JsonError::Shape
        );
        assert_eq!(
            from_object::<Sub>(br#"{"sub":"a""#).unwrap_err(),
            JsonError::NotAnObject
        );
    }

    #[test]
    fn invalid_utf8_in_an_ignored_member_is_not_json() {
        let mut json = br#"{"sub":"a","x":""#.to_vec();
        json.push(0xBD);
        json.extend_from_slice(br#""}"#);
        assert_eq!(
            from_object::<Sub>(&json).unwrap_err(),
            JsonError::NotAnObject
        );
    }
}
