//! JSON that must be an object: a JOSE header (RFC 7515 §5.2) and a claims set (RFC 7519
//! §7.2). serde's derived structs also accept arrays, so the shape is checked first.

use serde::Deserialize;

/// Why a JSON text could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, or JSON but not an object.
    NotAnObject,
    /// An object whose members have the wrong types or are missing.
    Shape,
}

/// Deserializes `json` if and only if it is a JSON object.
pub(crate) fn from_object<'a, D: Deserialize<'a>>(json: &'a [u8]) -> Result<D, JsonError> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(JsonError::NotAnObject);
    }
    serde_json::from_slice(json).map_err(|e| {
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
}
