//! The route a request takes: its policy's, or the one its overrides (a pinned model or
//! target, extra fallback models) make of it.

use std::borrow::Cow;

use super::super::snapshot::{CompiledPolicy, RouteEntry, Snapshot};
use crate::error::Error;
use crate::policy::RouteStep;
use crate::types::RouteOptions;

/// The policy's route, or the route the request's overrides make of it.
pub(super) fn effective_route<'s>(
    snapshot: &Snapshot,
    policy: &'s CompiledPolicy,
    options: &RouteOptions,
) -> Result<Cow<'s, [RouteEntry]>, Error> {
    if options.pin.is_none() && options.extra_fallbacks.is_empty() {
        return Ok(Cow::Borrowed(&policy.route));
    }
    let mut problems = Vec::new();
    let mut route = match &options.pin {
        Some(pin) => resolve(snapshot, pin, "options.pin", &mut problems)
            .into_iter()
            .collect(),
        None => policy.route.clone(),
    };
    for (i, model) in options.extra_fallbacks.iter().enumerate() {
        let step = RouteStep::model(model.as_str());
        let field = format!("options.extra_fallbacks[{i}]");
        if let Some(entry) = resolve(snapshot, &step, &field, &mut problems)
            && !route
                .iter()
                .any(|e| e.model == entry.model && e.only_target.is_none())
        {
            route.push(entry);
        }
    }
    if problems.is_empty() {
        Ok(Cow::Owned(route))
    } else {
        Err(Error::InvalidRequest { problems })
    }
}

/// Resolves a route step named in a request; unknown names are request problems.
fn resolve(
    snapshot: &Snapshot,
    step: &RouteStep,
    field: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<RouteEntry> {
    let Some(&model) = snapshot.model_index.get(step.model.as_str()) else {
        problems.push((
            field.to_owned(),
            format!("names unknown logical model `{}`", step.model),
        ));
        return None;
    };
    let only_target = match &step.account {
        None => None,
        Some(account) => {
            let position = snapshot.models[model]
                .targets
                .iter()
                .position(|t| &*t.target.account == account);
            if position.is_none() {
                problems.push((
                    field.to_owned(),
                    format!(
                        "logical model `{}` has no target on account `{account}`",
                        step.model
                    ),
                ));
                return None;
            }
            position
        }
    };
    Some(RouteEntry { model, only_target })
}
