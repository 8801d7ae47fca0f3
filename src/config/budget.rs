//! [`BudgetConfig`]: an account's spend limit, as written in a config file.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use crate::budget::{Budget, BudgetConfigError, BudgetWindow, DEFAULT_THRESHOLDS};

/// A spend limit for an account (see [`Budget`]), with alert thresholds in percent of
/// the limit. An exhausted account is skipped until its window ends.
///
/// ```toml
/// budget = { monthly_usd = 250.0, thresholds = [50, 80, 95, 100] }
/// budget = { monthly_usd = 40.0, window = { start = "2025-01-06T00:00:00Z", length = "7d" } }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct BudgetConfig {
    /// The limit per window in US dollars: per UTC calendar month unless `window` says
    /// otherwise.
    pub monthly_usd: f64,
    /// Alert thresholds in percent of the limit, each 1 to 1000 (default 50, 80, 95,
    /// 100); `[]` turns alerts off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<u16>>,
    /// The window the limit applies to (default `"calendar_month"`).
    #[serde(default)]
    pub window: BudgetWindowConfig,
}

/// The period a budget applies to: `"calendar_month"` (UTC), or back-to-back windows of
/// `length` from `start` (RFC 3339), written `{ start = "2025-01-06T00:00:00Z", length = "7d" }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetWindowConfig {
    /// Calendar months in UTC.
    #[default]
    CalendarMonth,
    /// Fixed windows.
    Fixed {
        /// When the first window starts.
        start: SystemTime,
        /// How long each window lasts.
        length: Duration,
    },
}

impl BudgetConfig {
    /// `usd` per UTC calendar month, with the default alert thresholds.
    pub fn monthly_usd(usd: f64) -> Self {
        Self {
            monthly_usd: usd,
            thresholds: None,
            window: BudgetWindowConfig::CalendarMonth,
        }
    }

    /// The budget, or `None` after reporting its first problem under `at` (such as
    /// `accounts[0].budget`).
    pub(crate) fn build(&self, at: &str, problems: &mut Problems) -> Option<Budget> {
        let thresholds = self.thresholds.as_deref().unwrap_or(&DEFAULT_THRESHOLDS);
        let window = match self.window {
            BudgetWindowConfig::CalendarMonth => BudgetWindow::CalendarMonthUtc,
            BudgetWindowConfig::Fixed { start, length } => BudgetWindow::Fixed { start, length },
        };
        let budget = Budget::monthly_usd(self.monthly_usd)
            .thresholds(thresholds.iter().copied())
            .window(window);
        let Err(error) = budget.validate() else {
            return Some(budget);
        };
        let field = match &error {
            BudgetConfigError::InvalidLimit { .. } => "monthly_usd".to_owned(),
            BudgetConfigError::ThresholdOutOfRange { percent } => thresholds
                .iter()
                .position(|p| p == percent)
                .map_or_else(|| "thresholds".to_owned(), |i| format!("thresholds[{i}]")),
            BudgetConfigError::TooManyThresholds { .. } => "thresholds".to_owned(),
            BudgetConfigError::WindowTooShort => "window.length".to_owned(),
        };
        problems.push(format!("{at}.{field}"), error.to_string());
        None
    }
}

impl<'de> Deserialize<'de> for BudgetWindowConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WindowVisitor)
    }
}

impl Serialize for BudgetWindowConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            BudgetWindowConfig::CalendarMonth => serializer.serialize_str("calendar_month"),
            BudgetWindowConfig::Fixed { start, length } => {
                FixedWindow { start, length }.serialize(serializer)
            }
        }
    }
}

struct WindowVisitor;

/// A fixed window as written (`start` to the second).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FixedWindow {
    #[serde(
        deserialize_with = "timestamp",
        serialize_with = "crate::budget::serialize_rfc3339"
    )]
    start: SystemTime,
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    length: Duration,
}

impl<'de> Visitor<'de> for WindowVisitor {
    type Value = BudgetWindowConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "\"calendar_month\" or a table { start = \"2025-01-06T00:00:00Z\", length = \"7d\" }",
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        match value {
            "calendar_month" => Ok(BudgetWindowConfig::CalendarMonth),
            other => Err(E::custom(format!(
                "unknown budget window `{other}`; write \"calendar_month\" or {{ start = \"2025-01-06T00:00:00Z\", length = \"7d\" }}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let fixed = FixedWindow::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(BudgetWindowConfig::Fixed {
            start: fixed.start,
            length: fixed.length,
        })
    }
}

/// `deserialize_with` for an RFC 3339 timestamp.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(d)?;
    crate::provider::http::parse_rfc3339(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is not an RFC 3339 timestamp such as \"2025-01-06T00:00:00Z\""
        ))
    })
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for BudgetWindowConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BudgetWindowConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The period a budget applies to: \"calendar_month\" (UTC), or back-to-back windows of `length` from `start`.",
            "anyOf": [
                { "const": "calendar_month" },
                {
                    "type": "object",
                    "properties": {
                        "start": { "type": "string", "description": "When the first window starts (RFC 3339)." },
                        "length": duration::schema(generator)
                    },
                    "required": ["start", "length"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
