use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Reasoning, ReasoningEffort};

/// Sampling parameters of a request, or the defaults of a [`LogicalModel`](crate::LogicalModel).
///
/// Every field is optional: a request's own value always wins, and a logical model's
/// default fills in only what the request leaves unset (see [`EffectiveParams`]).
///
/// ```
/// use routewise::SamplingParams;
///
/// let params = SamplingParams::new().temperature(0.2).max_tokens(512).stop(["\n\n"]);
/// assert_eq!(params.max_tokens, Some(512));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Sampling temperature, `0.0..=2.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling mass, `0.0..=1.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sequences that end generation. `None` means unset; `Some(vec![])` means "no stop
    /// sequences", overriding a default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Seed for providers that support deterministic sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// How hard a reasoning model should think, in each provider's own form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// Provider-specific parameters passed through verbatim (for example
    /// `presence_penalty`). Keys set on the request win over the same keys in defaults.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl SamplingParams {
    /// Parameters with nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the maximum number of generated tokens.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets nucleus sampling.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the stop sequences.
    #[must_use]
    pub fn stop<I, S>(mut self, stop: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stop = Some(stop.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the sampling seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the reasoning effort (see [`Reasoning`]).
    #[must_use]
    pub fn reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning.get_or_insert_with(Reasoning::default).effort = Some(effort);
        self
    }

    /// Sets the reasoning token budget (see [`Reasoning`]).
    #[must_use]
    pub fn reasoning_budget(mut self, tokens: u32) -> Self {
        self.reasoning
            .get_or_insert_with(Reasoning::default)
            .budget_tokens = Some(tokens);
        self
    }

    /// Adds a provider-specific parameter passed through verbatim.
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Problems with the values, as `(field, message)` pairs; empty when all are valid.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            problems.push(("temperature", format!("must be within 0.0..=2.0, got {t}")));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            problems.push(("top_p", format!("must be within 0.0..=1.0, got {p}")));
        }
        if self.max_tokens == Some(0) {
            problems.push(("max_tokens", "must be at least 1".to_owned()));
        }
        if self.reasoning.and_then(|r| r.budget_tokens) == Some(0) {
            problems.push(("reasoning.budget_tokens", "must be at least 1".to_owned()));
        }
        problems
    }
}

/// Parameters with nothing set, shared: what an adapted request's parameters are layered
/// over, since they already hold the defaults.
pub(crate) fn no_params() -> &'static SamplingParams {
    static NONE: std::sync::LazyLock<SamplingParams> =
        std::sync::LazyLock::new(SamplingParams::default);
    &NONE
}

/// A request's parameters layered over a logical model's defaults, without copying either.
///
/// Providers read parameters through this view, so "the request's value wins, the default
/// fills the gap" is decided in one place.
///
/// ```
/// use routewise::{EffectiveParams, SamplingParams};
///
/// let request = SamplingParams::new().temperature(0.9);
/// let defaults = SamplingParams::new().temperature(0.1).max_tokens(256);
/// let params = EffectiveParams::new(&request, &defaults);
/// assert_eq!(params.temperature(), Some(0.9));
/// assert_eq!(params.max_tokens(), Some(256));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct EffectiveParams<'a> {
    request: &'a SamplingParams,
    defaults: &'a SamplingParams,
}

impl<'a> EffectiveParams<'a> {
    /// Layers `request` over `defaults`.
    pub fn new(request: &'a SamplingParams, defaults: &'a SamplingParams) -> Self {
        Self { request, defaults }
    }

    /// The effective temperature.
    pub fn temperature(&self) -> Option<f32> {
        self.request.temperature.or(self.defaults.temperature)
    }

    /// The effective maximum number of generated tokens.
    pub fn max_tokens(&self) -> Option<u32> {
        self.request.max_tokens.or(self.defaults.max_tokens)
    }

    /// The effective nucleus sampling mass.
    pub fn top_p(&self) -> Option<f32> {
        self.request.top_p.or(self.defaults.top_p)
    }

    /// The effective stop sequences (empty when neither side sets any).
    pub fn stop(&self) -> &'a [String] {
        self.request
            .stop
            .as_deref()
            .or(self.defaults.stop.as_deref())
            .unwrap_or(&[])
    }

    /// The effective seed.
    pub fn seed(&self) -> Option<i64> {
        self.request.seed.or(self.defaults.seed)
    }

    /// The effective reasoning control.
    pub fn reasoning(&self) -> Option<Reasoning> {
        self.request.reasoning.or(self.defaults.reasoning)
    }

    /// The effective provider-specific parameters: every request key, then every default
    /// key the request does not set.
    pub fn extra(&self) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        let request = &self.request.extra;
        request.iter().chain(
            self.defaults
                .extra
                .iter()
                .filter(move |(key, _)| !request.contains_key(*key)),
        )
    }

    /// Copies the effective values into one owned [`SamplingParams`].
    pub fn to_params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature(),
            max_tokens: self.max_tokens(),
            top_p: self.top_p(),
            stop: self
                .request
                .stop
                .clone()
                .or_else(|| self.defaults.stop.clone()),
            seed: self.seed(),
            reasoning: self.reasoning(),
            extra: self.extra().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_values_win_and_defaults_fill_gaps() {
        let request = SamplingParams::new().temperature(0.7).extra("a", 1);
        let defaults = SamplingParams::new()
            .temperature(0.0)
            .max_tokens(100)
            .top_p(0.5)
            .stop(["END"])
            .seed(7)
            .extra("a", 2)
            .extra("b", 3);
        let merged = EffectiveParams::new(&request, &defaults).to_params();
        assert_eq!(merged.temperature, Some(0.7));
        assert_eq!(merged.max_tokens, Some(100));
        assert_eq!(merged.top_p, Some(0.5));
        assert_eq!(merged.stop.as_deref(), Some(&["END".to_owned()][..]));
        assert_eq!(merged.seed, Some(7));
        assert_eq!(merged.extra["a"], 1);
        assert_eq!(merged.extra["b"], 3);
    }

    #[test]
    fn an_explicit_empty_stop_list_overrides_default_stops() {
        let request = SamplingParams::new().stop(Vec::<String>::new());
        let defaults = SamplingParams::new().stop(["END"]);
        assert!(EffectiveParams::new(&request, &defaults).stop().is_empty());
    }

    #[test]
    fn out_of_range_values_are_reported_by_field() {
        let params = SamplingParams::new()
            .temperature(3.0)
            .top_p(1.5)
            .max_tokens(0);
        let fields: Vec<_> = params.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["temperature", "top_p", "max_tokens"]);
    }
}
