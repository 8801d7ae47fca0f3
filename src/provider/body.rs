//! Values every adapter writes into its request bodies the same way.

/// The `f64` closest to the decimal an `f32` prints as, so `0.2` goes out as `0.2` and not
/// as `0.20000000298023224` (`f64::from` keeps the binary value, not the decimal).
pub(crate) fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// The media type and data of a base64 `data:` URL (`data:image/png;base64,iVBOR...`);
/// `None` for any other URL, such as a `data:` URL that is not base64. The media type may
/// be empty.
pub(crate) fn base64_data_url(url: &str) -> Option<(&str, &str)> {
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((header.strip_suffix(";base64")?, data))
}

/// A tool's parameter schema as sent: a tool defined without one (`null`) takes no
/// arguments, which every API spells as an object schema without properties.
pub(crate) fn parameters_schema(
    schema: &serde_json::Value,
) -> std::borrow::Cow<'_, serde_json::Value> {
    if schema.is_null() {
        std::borrow::Cow::Owned(serde_json::json!({"type": "object", "properties": {}}))
    } else {
        std::borrow::Cow::Borrowed(schema)
    }
}

/// The property a wrapped JSON-mode answer is carried in.
const WRAPPED_ANSWER: &str = "value";

/// Whether a JSON-mode schema can be a tool's parameters as it is: its root is an object
/// schema or names no type. Otherwise it is wrapped ([`wrapped_schema`]).
pub(crate) fn has_object_root(schema: &serde_json::Value) -> bool {
    use serde_json::Value;
    schema.is_object()
        && match schema.get("type") {
            Some(Value::String(kind)) => kind == "object",
            Some(_) => false,
            None => true,
        }
}

/// An object schema whose one required property, `value`, is `schema`: how a JSON-mode
/// answer whose root is not an object travels as a tool call's arguments.
pub(crate) fn wrapped_schema(schema: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {WRAPPED_ANSWER: schema},
        "required": [WRAPPED_ANSWER],
    })
}

/// The answer a wrapped answer's arguments carry: their `value`, as JSON text. Arguments
/// that are not such an object are returned as they are.
pub(crate) fn unwrap_answer(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(mut fields)) if fields.contains_key(WRAPPED_ANSWER) => fields
            .remove(WRAPPED_ANSWER)
            .map(|value| value.to_string())
            .unwrap_or_default(),
        _ => arguments.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_their_short_decimal_form() {
        assert_eq!(decimal(0.2).to_string(), "0.2");
        assert_eq!(decimal(0.95).to_string(), "0.95");
        assert_ne!(decimal(0.2), f64::from(0.2_f32));
    }

    #[test]
    fn only_base64_data_urls_give_media_type_and_data() {
        assert_eq!(
            base64_data_url("data:image/png;base64,iVBORw0KGgo="),
            Some(("image/png", "iVBORw0KGgo="))
        );
        assert_eq!(base64_data_url("data:;base64,AAAA"), Some(("", "AAAA")));
        assert_eq!(base64_data_url("data:image/svg+xml,%3Csvg%3E"), None);
        assert_eq!(base64_data_url("data:image/png;base64"), None);
        assert_eq!(base64_data_url("https://example.com/a.png"), None);
    }
}
