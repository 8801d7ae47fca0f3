//! Adapting a request to the model it lands on, and recording every change.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ModelProfile, ProviderFamily, ReasoningStyle};
use crate::provider::ProviderRequest;
use crate::types::{
    EffectiveParams, Reasoning, ReasoningEffort, ResponseFormat, SamplingParams, ToolChoice,
};

/// Anthropic's smallest thinking budget.
const ANTHROPIC_MIN_BUDGET: u32 = 1_024;

/// What happens to a parameter a target's model cannot take.
///
/// Set router-wide ([`RouterBuilder::parameter_policy`](crate::RouterBuilder::parameter_policy))
/// and per logical model
/// ([`LogicalModel::parameter_policy`](crate::LogicalModel::parameter_policy)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParameterPolicy {
    /// Drop, rename or convert it. Each change is recorded on the
    /// [`Attempt`](crate::Attempt), shown by [`Router::explain`](crate::Router::explain)
    /// and emitted as a `tracing` event (target `routewise::adapt`).
    #[default]
    Adapt,
    /// Skip the target before any call, with a
    /// [`SkipReason::ParameterUnsupported`](crate::SkipReason::ParameterUnsupported)
    /// naming the parameter and model; the request moves to the next candidate.
    Strict,
}

/// What was done to a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdaptAction {
    /// Left out.
    Dropped,
    /// Sent in another form.
    Converted,
}

/// One change made to a request for the model it was sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adaptation {
    /// The parameter changed: `temperature`, `top_p`, `stop`, `reasoning`, `tool_choice`,
    /// `response_format`, `max_tokens`, or an extra parameter's key.
    pub parameter: String,
    /// What was done.
    pub action: AdaptAction,
    /// Why and how, naming the model.
    pub detail: String,
}

impl fmt::Display for Adaptation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            AdaptAction::Dropped => "dropped",
            AdaptAction::Converted => "converted",
        };
        write!(f, "{action} `{}`: {}", self.parameter, self.detail)
    }
}

/// A request's parameters as adapted to one model, and the changes made.
///
/// The router makes one per attempt that needs changes and hands it to the adapter
/// through [`ProviderRequest::with_adaptation`]; an adapter called directly makes its own.
#[derive(Clone, Debug, PartialEq)]
pub struct Adapted {
    pub(crate) params: SamplingParams,
    pub(crate) tool_choice: Option<ToolChoice>,
    /// Whether a tool choice may force a call (JSON mode's answer tool included).
    pub(crate) may_force_tools: bool,
    /// Whether JSON mode goes through an answer function instead of a response MIME type.
    pub(crate) json_through_tool: bool,
    changes: Vec<Adaptation>,
}

impl Adapted {
    /// The changes made, in the order they were made.
    pub fn changes(&self) -> &[Adaptation] {
        &self.changes
    }

    /// The changes, taken out.
    pub fn into_changes(self) -> Vec<Adaptation> {
        self.changes
    }
}

/// Adapts `request` to `profile`: `None` when the model takes it as it is.
///
/// Drops what the model refuses and the second of two parameters it refuses together
/// (keeping the request's own over a logical model's default); converts a reasoning
/// control to the model's form (or drops it for a model that does not reason on request);
/// under Anthropic's extended thinking, drops sampling parameters other than the defaults
/// and turns a forced tool choice into `auto`; and asks for JSON through an answer
/// function where the model cannot combine JSON mode with tools.
pub fn adapt(profile: &ModelProfile, request: &ProviderRequest<'_>) -> Option<Adapted> {
    if changes_nothing(profile) {
        return None;
    }
    let mut work = Work {
        model: request.model(),
        raw: request.params(),
        owned: None,
        tool_choice: None,
        may_force_tools: true,
        json_through_tool: false,
        changes: Vec::new(),
    };
    for name in &profile.unsupported {
        if work.has(name) {
            let detail = format!("`{}` does not accept it", work.model);
            work.drop(name, detail);
        }
    }
    for [first, second] in &profile.exclusive {
        exclusive(&mut work, request.request_params(), first, second);
    }
    reasoning(&mut work, profile);
    if profile.provider == Some(ProviderFamily::Anthropic) && thinking_on(&work) {
        thinking_limits(&mut work, request);
    }
    let json_mode = matches!(
        request.response_format(),
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
    );
    if json_mode && !profile.json_with_tools && !request.tools().is_empty() {
        work.json_through_tool = true;
        let detail = format!(
            "`{}` cannot combine JSON mode with tools: the answer is asked for as a call to an answer function",
            work.model
        );
        work.note("response_format", AdaptAction::Converted, detail);
    }
    if work.changes.is_empty() {
        return None;
    }
    let tool_choice = match work.tool_choice.take() {
        Some(choice) => choice,
        None => request.tool_choice().cloned(),
    };
    Some(Adapted {
        params: work.owned.take().unwrap_or_else(|| work.raw.to_params()),
        tool_choice,
        may_force_tools: work.may_force_tools,
        json_through_tool: work.json_through_tool,
        changes: work.changes,
    })
}

/// Whether `profile` takes every request as it is: it refuses no parameter, converts no
/// reasoning control, has no extended-thinking rules and combines JSON mode with tools.
/// Such a profile (the default: a custom provider's, or a model the data does not list)
/// is answered without reading the request, for each candidate the planner considers.
pub(crate) fn changes_nothing(profile: &ModelProfile) -> bool {
    profile.unsupported.is_empty()
        && profile.exclusive.is_empty()
        && profile.reasoning == ReasoningStyle::Unknown
        && profile.provider != Some(ProviderFamily::Anthropic)
        && profile.json_with_tools
}

/// The adaptation in progress: the parameters are copied only when one changes.
struct Work<'a> {
    model: &'a str,
    raw: EffectiveParams<'a>,
    owned: Option<SamplingParams>,
    /// The tool choice, when changed.
    tool_choice: Option<Option<ToolChoice>>,
    may_force_tools: bool,
    json_through_tool: bool,
    changes: Vec<Adaptation>,
}

impl Work<'_> {
    fn params(&mut self) -> &mut SamplingParams {
        let raw = self.raw;
        self.owned.get_or_insert_with(|| raw.to_params())
    }

    fn current(&self) -> EffectiveParams<'_> {
        match &self.owned {
            Some(owned) => EffectiveParams::new(owned, crate::types::no_params()),
            None => self.raw,
        }
    }

    fn has(&self, name: &str) -> bool {
        is_set(self.current(), name)
    }

    fn drop(&mut self, name: &str, detail: String) {
        let params = self.params();
        match name {
            "temperature" => params.temperature = None,
            "top_p" => params.top_p = None,
            "stop" => params.stop = None,
            "seed" => params.seed = None,
            "max_tokens" => params.max_tokens = None,
            "reasoning" => params.reasoning = None,
            key => {
                params.extra.remove(key);
            }
        }
        self.note(name, AdaptAction::Dropped, detail);
    }

    fn note(&mut self, parameter: &str, action: AdaptAction, detail: String) {
        self.changes.push(Adaptation {
            parameter: parameter.to_owned(),
            action,
            detail,
        });
    }
}

/// Whether `params` sets the parameter `name` (a canonical one or an extra's key).
fn is_set(params: EffectiveParams<'_>, name: &str) -> bool {
    match name {
        "temperature" => params.temperature().is_some(),
        "top_p" => params.top_p().is_some(),
        "stop" => !params.stop().is_empty(),
        "seed" => params.seed().is_some(),
        "max_tokens" => params.max_tokens().is_some(),
        "reasoning" => params.reasoning().is_some(),
        key => params.extra().any(|(k, _)| k == key),
    }
}

/// Drops one of two parameters the model refuses together: the one the request did not
/// set itself, else the second.
fn exclusive(work: &mut Work<'_>, own: &SamplingParams, first: &str, second: &str) {
    if !(work.has(first) && work.has(second)) {
        return;
    }
    let own = EffectiveParams::new(own, crate::types::no_params());
    let (kept, dropped) = if is_set(own, second) && !is_set(own, first) {
        (second, first)
    } else {
        (first, second)
    };
    let detail = format!(
        "`{}` refuses `{first}` and `{second}` together; `{kept}` was kept",
        work.model
    );
    work.drop(dropped, detail);
}

/// Converts the reasoning control to the model's form, or drops it.
fn reasoning(work: &mut Work<'_>, profile: &ModelProfile) {
    let Some(control) = work.current().reasoning() else {
        return;
    };
    let model = work.model;
    let converted = match profile.reasoning {
        ReasoningStyle::Unknown => return,
        ReasoningStyle::None => {
            let detail = format!("`{model}` does not reason on request");
            work.drop("reasoning", detail);
            return;
        }
        ReasoningStyle::Effort => Reasoning::effort(control.effort_or_equivalent()),
        ReasoningStyle::Level => Reasoning::effort(match control.effort_or_equivalent() {
            ReasoningEffort::Minimal | ReasoningEffort::Low => ReasoningEffort::Low,
            _ => ReasoningEffort::High,
        }),
        ReasoningStyle::BudgetTokens => {
            let budget = control.budget_or_equivalent();
            let floor = match profile.provider {
                Some(ProviderFamily::Anthropic) => ANTHROPIC_MIN_BUDGET,
                _ => 0,
            };
            Reasoning::budget(budget.max(floor))
        }
    };
    if converted != control {
        let form = match profile.reasoning {
            ReasoningStyle::Effort => format!("effort `{}`", converted.effort_or_equivalent()),
            ReasoningStyle::Level => {
                format!("thinking level `{}`", converted.effort_or_equivalent())
            }
            _ => format!("a budget of {} tokens", converted.budget_or_equivalent()),
        };
        let detail = format!("`{model}` takes reasoning as {form}");
        work.params().reasoning = Some(converted);
        work.note("reasoning", AdaptAction::Converted, detail);
    }
}

/// Whether Anthropic's extended thinking is on: a reasoning control, or a `thinking`
/// extra of type `enabled`.
fn thinking_on(work: &Work<'_>) -> bool {
    let params = work.current();
    params.reasoning().is_some()
        || params.extra().any(|(key, value)| {
            key == "thinking" && value.get("type").and_then(Value::as_str) == Some("enabled")
        })
}

/// What Anthropic refuses while extended thinking is on: a temperature other than 1, a
/// `top_p` below 0.95, `top_k`, a forced tool choice (JSON mode's answer tool included),
/// and a `max_tokens` no larger than the thinking budget.
fn thinking_limits(work: &mut Work<'_>, request: &ProviderRequest<'_>) {
    let why = format!("`{}` refuses it while extended thinking is on", work.model);
    if work.current().temperature().is_some_and(|t| t != 1.0) {
        work.drop("temperature", why.clone());
    }
    if work.current().top_p().is_some_and(|p| p < 0.95) {
        work.drop("top_p", why.clone());
    }
    if work.has("top_k") {
        work.drop("top_k", why.clone());
    }
    if let Some(choice @ (ToolChoice::Required | ToolChoice::Function(_))) = request.tool_choice() {
        let detail = format!("{why}: `{}` was sent as `auto`", describe(choice));
        work.tool_choice = Some(Some(ToolChoice::Auto));
        work.may_force_tools = false;
        work.note("tool_choice", AdaptAction::Converted, detail);
    }
    if matches!(
        request.response_format(),
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
    ) {
        work.may_force_tools = false;
        let detail = format!(
            "`{}` refuses a forced tool choice while extended thinking is on: the JSON answer tool is offered, not forced",
            work.model
        );
        work.note("response_format", AdaptAction::Converted, detail);
    }
    let budget = work
        .current()
        .reasoning()
        .and_then(|r| r.budget_tokens)
        .or_else(|| thinking_extra_budget(work));
    if let (Some(budget), Some(max_tokens)) = (budget, work.current().max_tokens())
        && max_tokens <= budget
    {
        let raised = budget.saturating_add(max_tokens);
        let detail = format!(
            "`{}` needs `max_tokens` above the thinking budget ({budget}): raised to {raised}, the budget plus the answer's {max_tokens}",
            work.model
        );
        work.params().max_tokens = Some(raised);
        work.note("max_tokens", AdaptAction::Converted, detail);
    }
}

fn thinking_extra_budget(work: &Work<'_>) -> Option<u32> {
    let params = work.current();
    params
        .extra()
        .find(|(key, _)| *key == "thinking")
        .and_then(|(_, value)| value.get("budget_tokens")?.as_u64())
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn describe(choice: &ToolChoice) -> String {
    match choice {
        ToolChoice::Auto => "auto".to_owned(),
        ToolChoice::None => "none".to_owned(),
        ToolChoice::Required => "required".to_owned(),
        ToolChoice::Function(name) => format!("function {name}"),
    }
}
