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
