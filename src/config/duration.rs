//! Durations in config files: `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`, `"7d"`, and sums such as
//! `"1m30s"`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses a number followed by a unit, `ms`, `s`, `m`, `h` or `d`, or several such parts
/// added up (`"1m30s"`, `"1h 15m"`).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let mut rest = text;
    let mut seconds = 0.0_f64;
    loop {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(split);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let seconds_per_unit = match unit.trim() {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "" => {
                return Err(format!(
                    "`{text}` needs a unit: ms, s, m, h or d (as in \"250ms\" or \"1m30s\")"
                ));
            }
            other => {
                return Err(format!(
                    "unknown duration unit `{other}`; use ms, s, m, h or d"
                ));
            }
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is not a duration such as \"250ms\", \"1.5s\" or \"1m30s\"")
        })?;
        seconds += value * seconds_per_unit;
        rest = next.trim_start();
        if rest.is_empty() {
            break;
        }
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// The text of a duration. Anything else, such as a bare number, is refused with what a
/// duration looks like: "invalid type: integer `500`, expected a duration such as
/// \"500ms\"".
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = DurationText;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as \"500ms\" (units ms, s, m, h, d)")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText(text.to_owned()))
            }
        }
        d.deserialize_str(Text)
    }
}

/// `deserialize_with` for `Duration` fields.
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse(&DurationText::deserialize(d)?.0).map_err(serde::de::Error::custom)
}

/// The text [`parse`] reads back as `duration`: whole days, hours, minutes, seconds and
/// milliseconds added up (`"1m30s"`, `"250ms"`, `"0s"`), with any sub-millisecond rest
/// as a fraction of the last millisecond.
pub(crate) fn format(duration: Duration) -> String {
    use std::fmt::Write;

    const SECOND: u128 = 1_000_000_000;
    const UNITS: [(&str, u128); 4] = [
        ("d", 86_400 * SECOND),
        ("h", 3_600 * SECOND),
        ("m", 60 * SECOND),
        ("s", SECOND),
    ];
    let mut rest = duration.as_nanos();
    let mut text = String::new();
    for (unit, nanos) in UNITS {
        if rest >= nanos {
            let _ = write!(text, "{}{unit}", rest / nanos);
            rest %= nanos;
        }
    }
    if rest > 0 {
        // Below a second, so exact in an f64.
        let _ = write!(text, "{}ms", rest as f64 / 1e6);
    } else if text.is_empty() {
        text.push_str("0s");
    }
    text
}

/// `serialize_with` for `Duration` fields: the text [`required`] reads.
pub(crate) fn write<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*duration))
}

/// `#[serde(with = "duration::option")]`: an optional duration as the text [`format`]
/// writes and [`parse`] reads, or none.
pub(crate) mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::DurationText;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<DurationText>::deserialize(d)?
            .map(|text| super::parse(&text.0).map_err(serde::de::Error::custom))
            .transpose()
    }

    pub(crate) fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => super::write(duration, s),
            None => s.serialize_none(),
        }
    }
}

/// The schema of a duration string.
#[cfg(feature = "schema")]
pub(crate) fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A duration: a number and a unit, ms, s, m, h or d, or several added up (\"250ms\", \"1.5s\", \"1m30s\", \"7d\").",
        "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)\\s*)+$"
    })
}

/// The schema of a duration string that may also be `"off"`.
#[cfg(feature = "schema")]
pub(crate) fn schema_or_off(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            schema(generator),
            { "const": "off", "description": "No such timeout." }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_the_number() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse(" 0s "), Ok(Duration::ZERO));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Timeout {
        #[serde(default, with = "option")]
        timeout: Option<Duration>,
    }

    #[test]
    fn a_bare_number_is_refused_with_an_example_of_a_duration() {
        let error = serde_json::from_str::<Timeout>(r#"{"timeout": 500}"#).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("a duration such as \"500ms\""),
            "{message}"
        );
        let parsed = serde_json::from_str::<Timeout>(r#"{"timeout": "500ms"}"#).unwrap();
        assert_eq!(parsed.timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn written_durations_read_back_the_same() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(7 * 86_400 + 3_600), "7d1h"),
            (Duration::from_micros(1_250), "1.25ms"),
        ];
        for (duration, text) in cases {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration), "{text}");
        }
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h 15m"), Ok(Duration::from_secs(4500)));
        assert_eq!(parse("2d12h"), Ok(Duration::from_secs(216_000)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse("1m30").unwrap_err().contains("needs a unit"));
        assert!(
            parse("1m3x")
                .unwrap_err()
                .contains("unknown duration unit `x`")
        );
    }

    #[test]
    fn a_missing_or_unknown_unit_is_explained() {
        assert!(parse("250").unwrap_err().contains("needs a unit"));
        assert!(
            parse("3w")
                .unwrap_err()
                .contains("unknown duration unit `w`")
        );
        assert!(parse("fast").unwrap_err().contains("unknown duration unit"));
        assert!(parse("1.2.3s").unwrap_err().contains("is not a duration"));
    }
}
