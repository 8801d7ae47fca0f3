//! Writing config values that have a short form of their own back out the way the
//! loader reads them: breakers (`false`, a count, a table), failure-kind tables and
//! route steps (a name, or a table naming an account).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::resilience::{FailureThreshold, PolicyBreaker};
use crate::policy::RouteStep;
use crate::provider::ErrorKind;

impl Serialize for FailureThreshold {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FailureThreshold::Faults(faults) => serializer.serialize_u32(*faults),
            FailureThreshold::Off => serializer.serialize_bool(false),
        }
    }
}

impl Serialize for PolicyBreaker {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PolicyBreaker::RouterDefault => serializer.serialize_bool(true),
            PolicyBreaker::Off => serializer.serialize_bool(false),
            PolicyBreaker::Custom(settings) => settings.serialize(serializer),
        }
    }
}

/// `serialize_with` for `retry_on` and `failure_threshold_by_kind`: a table of failure
/// kinds and counts.
pub(crate) fn counts_by_kind<S: Serializer>(
    counts: &[(ErrorKind, u32)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(counts.len()))?;
    for (kind, count) in counts {
        map.serialize_entry(kind, count)?;
    }
    map.end()
}

/// `serialize_with` for a policy's `route`: a logical model's name, or a table when the
/// step names an account.
pub(crate) fn route<S: Serializer>(steps: &[RouteStep], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(steps.len()))?;
    for step in steps {
        match &step.account {
            None => seq.serialize_element(&step.model)?,
            Some(_) => seq.serialize_element(step)?,
        }
    }
    seq.end()
}
