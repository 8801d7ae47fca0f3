//! Which policy takes a request: the first, in evaluation order, whose [`Match`] accepts
//! it.
//!
//! Requests find it through a [`PolicyIndex`] built with the snapshot, which lists for
//! each step type and purpose the policies that can accept them, so a request visits
//! those alone rather than every policy above the one that matches. [`Router::explain`]
//! scans the whole table instead, since it reports why each policy above the match was
//! passed over; both find the same policy, which the tests below check over random
//! policy tables.
//!
//! [`Router::explain`]: crate::Router::explain

use std::collections::HashMap;
use std::sync::Arc;

use super::plan::{PlanError, PlanRequest};
use super::snapshot::Snapshot;
use crate::error::Error;
use crate::policy::{Match, MatchMiss, Purpose, StepType};

/// The first policy that takes the request, found through the snapshot's index.
pub(crate) fn first_match(
    snapshot: &Snapshot,
    input: &PlanRequest<'_>,
) -> Result<usize, PlanError> {
    let request = input.request;
    snapshot
        .policy_index
        .candidates(input.step, input.purpose)
        .find(|&i| {
            snapshot.policies[i]
                .matcher
                .check(
                    input.step,
                    input.purpose,
                    request.model.as_deref(),
                    &request.tags,
                )
                .is_ok()
        })
        .ok_or_else(|| no_match(input))
}

/// The first policy that takes the request, found by checking every policy in order;
/// `on_miss` hears each one passed over, with why.
pub(crate) fn scan(
    snapshot: &Snapshot,
    input: &PlanRequest<'_>,
    mut on_miss: impl FnMut(usize, MatchMiss),
) -> Result<usize, PlanError> {
    let request = input.request;
    for (i, policy) in snapshot.policies.iter().enumerate() {
        match policy.matcher.check(
            input.step,
            input.purpose,
            request.model.as_deref(),
            &request.tags,
        ) {
            Ok(()) => return Ok(i),
            Err(miss) => on_miss(i, miss),
        }
    }
    Err(no_match(input))
}

fn no_match(input: &PlanRequest<'_>) -> PlanError {
    PlanError {
        policy: None,
        error: Error::NoMatchingPolicy {
            step_type: input.step.clone(),
            purpose: input.purpose.clone(),
        },
    }
}

/// The policies that can accept each step type and purpose, by position in evaluation
/// order.
///
/// Every policy sits in exactly one of four classes, by whether it names step types and
/// whether it names purposes; a request merges the (at most four) lists its step type
/// and purpose select, which keeps evaluation order. Built-in step types and purposes
/// are found without hashing; custom ones cost one hash lookup, and none when no policy
/// names a custom one.
#[derive(Debug, Default)]
pub(crate) struct PolicyIndex {
    steps: Names,
    purposes: Names,
    /// Policies naming both, per step id: (purpose id, positions), by purpose id.
    both: Vec<Vec<(u32, Box<[usize]>)>>,
    /// Policies naming step types and accepting any purpose, per step id.
    by_step: Vec<Box<[usize]>>,
    /// Policies naming purposes and accepting any step type, per purpose id.
    by_purpose: Vec<Box<[usize]>>,
    /// Policies accepting any step type and any purpose.
    any: Box<[usize]>,
}

impl PolicyIndex {
    /// Indexes `matchers`, given in evaluation order.
    pub(crate) fn new<'a>(matchers: impl IntoIterator<Item = &'a Match>) -> Self {
        let mut steps = Names::default();
        let mut purposes = Names::default();
        let mut both: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
        let mut by_step: Vec<Vec<usize>> = Vec::new();
        let mut by_purpose: Vec<Vec<usize>> = Vec::new();
        let mut any = Vec::new();
        for (position, matcher) in matchers.into_iter().enumerate() {
            let step_ids = ids(&mut steps, matcher.step_types.iter().map(step_name));
            let purpose_ids = ids(&mut purposes, matcher.purposes.iter().map(purpose_name));
            match (step_ids.is_empty(), purpose_ids.is_empty()) {
                (true, true) => any.push(position),
                (false, true) => push_each(&mut by_step, &step_ids, position),
                (true, false) => push_each(&mut by_purpose, &purpose_ids, position),
                (false, false) => {
                    for &s in &step_ids {
                        for &p in &purpose_ids {
                            both.entry((s, p)).or_default().push(position);
                        }
                    }
                }
            }
        }
        by_step.resize_with(steps.len(), Vec::new);
        by_purpose.resize_with(purposes.len(), Vec::new);
        let mut both_by_step: Vec<Vec<(u32, Box<[usize]>)>> = vec![Vec::new(); steps.len()];
        for ((s, p), positions) in both {
            both_by_step[s as usize].push((p, positions.into()));
        }
        for purposes in &mut both_by_step {
            purposes.sort_unstable_by_key(|(p, _)| *p);
        }
        Self {
            steps,
            purposes,
            both: both_by_step,
            by_step: by_step.into_iter().map(Vec::into_boxed_slice).collect(),
            by_purpose: by_purpose.into_iter().map(Vec::into_boxed_slice).collect(),
            any: any.into(),
        }
    }

    /// Positions of the policies that can accept `step` and `purpose`, in evaluation
    /// order: exactly those whose step types and purposes do; models and tags are left
    /// to check.
    pub(crate) fn candidates(&self, step: &StepType, purpose: &Purpose) -> Candidates<'_> {
        let step = self.steps.get(step_name(step)).map(|s| s as usize);
        let purpose = self.purposes.get(purpose_name(purpose));
        let both = match (step, purpose) {
            (Some(s), Some(p)) => {
                let lists = &self.both[s];
                lists
                    .binary_search_by_key(&p, |(id, _)| *id)
                    .map_or(&[][..], |found| &lists[found].1)
            }
            _ => &[],
        };
        let by_step = step.map_or(&[][..], |s| &self.by_step[s]);
        let by_purpose = purpose.map_or(&[][..], |p| &self.by_purpose[p as usize]);
        Candidates {
            lists: [both, by_step, by_purpose, &self.any],
        }
    }
}

/// Appends `position` to the list of each id.
fn push_each(lists: &mut Vec<Vec<usize>>, ids: &[u32], position: usize) {
    for &id in ids {
        let id = id as usize;
        if lists.len() <= id {
            lists.resize_with(id + 1, Vec::new);
        }
        lists[id].push(position);
    }
}

/// The ids of `names`, interned, without repeats.
fn ids<'a>(table: &mut Names, names: impl Iterator<Item = Name<'a>>) -> Vec<u32> {
    let mut ids: Vec<u32> = names.map(|name| table.intern(name)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The merge, in evaluation order, of the lists a step type and purpose select.
pub(crate) struct Candidates<'a> {
    /// Each sorted; no position is in two of them (the classes are disjoint).
    lists: [&'a [usize]; 4],
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let mut first: Option<(usize, usize)> = None;
        for (list, positions) in self.lists.iter().enumerate() {
            if let Some(&head) = positions.first()
                && first.is_none_or(|(_, lowest)| head < lowest)
            {
                first = Some((list, head));
            }
        }
        let (list, head) = first?;
        self.lists[list] = &self.lists[list][1..];
        Some(head)
    }
}

/// A step type or purpose as the index keys it: a built-in variant by its position, a
/// custom one by its name. This keeps their equality: `Custom("chat")` is not `Chat`.
#[derive(Clone, Copy)]
enum Name<'a> {
    Builtin(usize),
    Custom(&'a Arc<str>),
}

/// How many built-in variants each of [`StepType`] and [`Purpose`] has.
const BUILTINS: usize = 3;

fn step_name(step: &StepType) -> Name<'_> {
    match step {
        StepType::Inference => Name::Builtin(0),
        StepType::ToolCall => Name::Builtin(1),
        StepType::Extraction => Name::Builtin(2),
        StepType::Custom(name) => Name::Custom(name),
    }
}

fn purpose_name(purpose: &Purpose) -> Name<'_> {
    match purpose {
        Purpose::Chat => Name::Builtin(0),
        Purpose::Summarization => Name::Builtin(1),
        Purpose::Classification => Name::Builtin(2),
        Purpose::Custom(name) => Name::Custom(name),
    }
}

/// Dense ids of the step types (or purposes) some policy names.
#[derive(Debug, Default)]
struct Names {
    builtin: [Option<u32>; BUILTINS],
    custom: HashMap<Arc<str>, u32>,
}

impl Names {
    fn len(&self) -> usize {
        self.builtin.iter().flatten().count() + self.custom.len()
    }

    fn get(&self, name: Name<'_>) -> Option<u32> {
        match name {
            Name::Builtin(i) => self.builtin[i],
            // An empty map answers without hashing the name.
            Name::Custom(_) if self.custom.is_empty() => None,
            Name::Custom(name) => self.custom.get(name).copied(),
        }
    }

    fn intern(&mut self, name: Name<'_>) -> u32 {
        if let Some(id) = self.get(name) {
            return id;
        }
        let id = u32::try_from(self.len()).expect("fewer than 2^32 step types or purposes");
        match name {
            Name::Builtin(i) => self.builtin[i] = Some(id),
            Name::Custom(name) => {
                self.custom.insert(name.clone(), id);
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokio::time::Instant;

    use super::*;
    use crate::model::Capabilities;
    use crate::sim::SimProvider;
    use crate::types::ChatRequest;
    use crate::{LogicalModel, Policy, ProviderAccount, RouterBuilder, Target};

    const STEPS: [&str; 5] = ["inference", "tool_call", "extraction", "rerank", "plan"];
    const PURPOSES: [&str; 5] = [
        "chat",
        "summarization",
        "classification",
        "translation",
        "qa",
    ];
    const MODELS: [&str; 3] = ["m1", "m2", "m3"];
    const TAGS: [&str; 3] = ["a", "b", "c"];

    /// A step type from `STEPS`; `true` makes the name a `Custom` one even when it is
    /// a built-in's (`Custom("inference")` is a different step type from `Inference`).
    fn step((i, raw): (usize, bool)) -> StepType {
        if raw {
            StepType::Custom(STEPS[i].into())
        } else {
            StepType::from(STEPS[i])
        }
    }

    fn purpose((i, raw): (usize, bool)) -> Purpose {
        if raw {
            Purpose::Custom(PURPOSES[i].into())
        } else {
            Purpose::from(PURPOSES[i])
        }
    }

    fn picks(len: usize, max: usize) -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0..len, 0..=max)
    }

    fn names(pool: &[&str], picked: &[usize]) -> Vec<String> {
        picked.iter().map(|&i| pool[i].to_owned()).collect()
    }

    #[derive(Debug, Clone)]
    struct PolicySpec {
        priority: i32,
        steps: Vec<(usize, bool)>,
        purposes: Vec<(usize, bool)>,
        models: Vec<usize>,
        tags: Vec<usize>,
    }

    fn policy_spec() -> impl Strategy<Value = PolicySpec> {
        let named = || proptest::collection::vec((0..5usize, any::<bool>()), 0..=3);
        (0..3i32, named(), named(), picks(3, 2), picks(3, 2)).prop_map(
            |(priority, steps, purposes, models, tags)| PolicySpec {
                priority,
                steps,
                purposes,
                models,
                tags,
            },
        )
    }

    #[derive(Debug, Clone)]
    struct RequestSpec {
        step: (usize, bool),
        purpose: (usize, bool),
        model: Option<usize>,
        tags: Vec<usize>,
    }

    fn request_spec() -> impl Strategy<Value = RequestSpec> {
        (
            (0..5usize, any::<bool>()),
            (0..5usize, any::<bool>()),
            proptest::option::of(0..3usize),
            picks(3, 3),
        )
            .prop_map(|(step, purpose, model, tags)| RequestSpec {
                step,
                purpose,
                model,
                tags,
            })
    }

    fn snapshot(policies: &[PolicySpec]) -> Snapshot {
        let mut builder = RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .model(LogicalModel::new("m").target(Target::new("a", "x")));
        for (i, spec) in policies.iter().enumerate() {
            builder = builder.policy(
                Policy::new(format!("p{i}"))
                    .priority(spec.priority)
                    .step_types(spec.steps.iter().copied().map(step))
                    .purposes(spec.purposes.iter().copied().map(purpose))
                    .for_models(names(&MODELS, &spec.models))
                    .tags(names(&TAGS, &spec.tags))
                    .route(["m"]),
            );
        }
        builder.compile(None).expect("a valid configuration")
    }

    proptest! {
        /// The index finds what checking every policy in order finds, with priorities
        /// tied in declaration order, repeated and custom-spelled step types and
        /// purposes, and model and tag criteria on top.
        #[test]
        fn the_index_picks_exactly_the_policy_the_full_scan_picks(
            policies in proptest::collection::vec(policy_spec(), 1..12),
            requests in proptest::collection::vec(request_spec(), 1..16),
        ) {
            let snapshot = snapshot(&policies);
            for spec in requests {
                let mut request = ChatRequest::user("hi");
                if let Some(m) = spec.model {
                    request = request.model(MODELS[m]);
                }
                for t in &spec.tags {
                    request = request.tag(TAGS[*t]);
                }
                let (step, purpose) = (step(spec.step), purpose(spec.purpose));
                let input = PlanRequest {
                    step: &step,
                    purpose: &purpose,
                    request: &request,
                    needs: Capabilities::NONE,
                    for_real: false,
                    now: Instant::now(),
                };
                let indexed = first_match(&snapshot, &input).map_err(|e| e.error.to_string());
                let scanned = scan(&snapshot, &input, |_, _| {}).map_err(|e| e.error.to_string());
                prop_assert_eq!(indexed, scanned);

                let accepting: Vec<usize> = snapshot
                    .policies
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        let m = &p.matcher;
                        (m.step_types.is_empty() || m.step_types.contains(&step))
                            && (m.purposes.is_empty() || m.purposes.contains(&purpose))
                    })
                    .map(|(i, _)| i)
                    .collect();
                let listed: Vec<usize> =
                    snapshot.policy_index.candidates(&step, &purpose).collect();
                prop_assert_eq!(listed, accepting);
            }
        }
    }

    #[test]
    fn a_request_visits_only_the_policies_for_its_step_type_and_purpose() {
        let matchers = [
            Match {
                purposes: vec![Purpose::Summarization],
                ..Match::default()
            },
            Match {
                step_types: vec![StepType::Extraction],
                purposes: vec![Purpose::Chat, Purpose::Chat],
                ..Match::default()
            },
            Match {
                step_types: vec![StepType::Inference],
                ..Match::default()
            },
            Match {
                purposes: vec![Purpose::Chat],
                ..Match::default()
            },
            Match::default(),
        ];
        let index = PolicyIndex::new(&matchers);
        let visits = |step, purpose| index.candidates(&step, &purpose).collect::<Vec<_>>();
        assert_eq!(visits(StepType::Inference, Purpose::Chat), [2, 3, 4]);
        assert_eq!(visits(StepType::Extraction, Purpose::Chat), [1, 3, 4]);
        assert_eq!(
            visits(StepType::custom("rerank"), Purpose::Summarization),
            [0, 4]
        );
        assert_eq!(
            visits(StepType::Custom("extraction".into()), Purpose::Chat),
            [3, 4]
        );
    }
}
