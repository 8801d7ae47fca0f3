//! Adapting a request to each candidate's model while planning: kept for the attempt,
//! or, under a strict parameter policy, a reason to skip the target.

use std::sync::Arc;

use super::skip::SkipReason;
use super::snapshot::Snapshot;
use crate::provider::ProviderRequest;
use crate::provider::profile::{self, Adapted, ParameterPolicy};
use crate::types::ChatRequest;

/// The adaptation of the request to one target: model and target indices.
#[derive(Debug)]
pub(crate) struct PlannedAdaptation {
    pub(crate) model: usize,
    pub(crate) target: usize,
    pub(crate) adapted: Arc<Adapted>,
}

/// How `request` must change for target `t` of model `m`: `None` when its model takes it
/// as it is; under a strict parameter policy, the skip reason naming the first change.
pub(crate) fn for_target(
    snapshot: &Snapshot,
    m: usize,
    t: usize,
    request: &ChatRequest,
) -> Result<Option<PlannedAdaptation>, SkipReason> {
    let model = &snapshot.models[m];
    let target = &model.targets[t];
    if profile::changes_nothing(&target.profile) {
        return Ok(None);
    }
    let account = &snapshot.accounts[target.account];
    let call = ProviderRequest::new(
        &target.target.provider_model,
        &account.info,
        request,
        &model.defaults,
    );
    let Some(adapted) = profile::adapt(&target.profile, &call) else {
        return Ok(None);
    };
    if model.parameter_policy == ParameterPolicy::Strict {
        let first = &adapted.changes()[0];
        return Err(SkipReason::ParameterUnsupported {
            parameter: first.parameter.clone(),
            model: target.target.provider_model.to_string(),
            detail: first.to_string(),
        });
    }
    Ok(Some(PlannedAdaptation {
        model: m,
        target: t,
        adapted: Arc::new(adapted),
    }))
}
