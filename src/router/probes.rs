//! Background health probes: one task per account, owned by the router, stopped when the
//! router is dropped or reloaded.

use tokio::task::AbortHandle;

use super::snapshot::Snapshot;
use crate::error::{ConfigError, ConfigProblem};

/// The probe tasks of one snapshot; aborted on drop.
#[derive(Debug, Default)]
pub(crate) struct Probes(Vec<AbortHandle>);

impl Probes {
    /// Starts a probe loop per account when the health settings ask for probes.
    pub(crate) fn start(snapshot: &Snapshot) -> Result<Self, ConfigError> {
        let wanted = snapshot
            .accounts
            .iter()
            .any(|a| a.health.config().probe_interval.is_some());
        if !wanted {
            return Ok(Self::default());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(ConfigError::new(vec![ConfigProblem {
                path: "health.probe_interval".into(),
                message: "background probes need a Tokio runtime: build the router inside one"
                    .into(),
                location: None,
            }]));
        };
        Ok(Self(
            snapshot
                .accounts
                .iter()
                .map(|account| {
                    let probe = account
                        .health
                        .probe_loop(account.provider.clone(), account.info.clone());
                    runtime.spawn(probe).abort_handle()
                })
                .collect(),
        ))
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
