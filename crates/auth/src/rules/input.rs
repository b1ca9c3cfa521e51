//! What a rule's expression sees: the five roots `model`, `caller`, `account`, `project` and
//! `now`, as CEL values built from a policy's context (or from a sample, to check a rule at load).

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::{CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use domain::Timestamp;
use storage::Model;

use crate::principal::Principal;

/// The variables a rule may name; anything else stops the load.
pub const ROOTS: [&str; 5] = ["model", "caller", "account", "project", "now"];

/// One CEL value, borrowing the strings of the model and the caller it was built from.
type Boxed<'v> = Box<dyn Val + 'v>;

/// The values of the five roots for one decision. A root a rule does not name is left out.
/// Built straight as CEL values that borrow the model's and the caller's strings, and read by
/// reference while the expression runs (a [`VariableResolver`]): nothing is copied per lookup.
#[derive(Debug, Default)]
pub struct RuleInput<'v> {
    pub model: Option<Boxed<'v>>,
    pub caller: Option<Boxed<'v>>,
    pub account: Option<Boxed<'v>>,
    pub project: Option<Boxed<'v>>,
    pub now: Option<Boxed<'v>>,
}

/// Which roots a rule names (so a decision builds, and looks up, only those).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roots {
    pub model: bool,
    pub caller: bool,
    pub account: bool,
    pub project: bool,
    pub now: bool,
}

impl Roots {
    /// The roots among `names`.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut roots = Self::default();
        for name in names {
            match name {
                "model" => roots.model = true,
                "caller" => roots.caller = true,
                "account" => roots.account = true,
                "project" => roots.project = true,
                "now" => roots.now = true,
                _ => {}
            }
        }
        roots
    }
}

impl<'v> RuleInput<'v> {
    /// The roots `roots` names, for `principal` and `model`; `shared_models` is the project's
    /// count of shared models (asked for only when `project` is named).
    pub fn build(
        roots: Roots,
        principal: &'v Principal,
        model: Option<&'v Model>,
        shared_models: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            model: model.filter(|_| roots.model).map(model_value),
            caller: roots.caller.then(|| caller_value(principal)),
            account: roots.account.then(|| account_value(principal)),
            project: roots
                .project
                .then(|| project_value(principal.project_id.as_str(), shared_models)),
            now: roots.now.then(|| timestamp(now)),
        }
    }

    /// The context an expression runs against: these values on the standard library.
    pub fn context<'c>(&'c self, env: &Arc<cel::Env>) -> cel::Context<'c, 'c> {
        let mut context = cel::Context::with_env(Arc::clone(env));
        context.set_variable_resolver(self);
        context
    }
}

impl VariableResolver for RuleInput<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value = match variable {
            "model" => &self.model,
            "caller" => &self.caller,
            "account" => &self.account,
            "project" => &self.project,
            "now" => &self.now,
            _ => return None,
        };
        let value: &'b (dyn Val + 'b) = value.as_deref()?;
        Some(CowVal::Borrowed(value))
    }
}

/// `model`: the fields of the contract's model, camelCase; absent ones are `null`.
fn model_value(model: &Model) -> Boxed<'_> {
    map([
        ("id", string(model.id.to_string())),
        ("name", string(model.name.as_str())),
        ("status", string(model.status.as_str())),
        ("architecture", optional(model.architecture.as_deref())),
        ("parameterCount", int(model.parameter_count)),
        ("contextLength", int(model.context_length)),
        ("license", optional(model.license.as_deref())),
        ("tags", list(model.tags.iter().map(|t| string(t.as_str())))),
        ("createdAt", timestamp(model.created_at)),
        ("sharedAt", model.shared_at.map_or_else(null, timestamp)),
    ])
}

/// `caller`: `userId`, `role` (`admin`, `member`, `viewer`), `projectId`.
fn caller_value(principal: &Principal) -> Boxed<'_> {
    map([
        ("userId", string(principal.user_id.to_string())),
        ("role", string(principal.role.as_str())),
        ("projectId", string(principal.project_id.as_str())),
    ])
}

/// `account`: `id` and `features` (a list of names).
fn account_value(principal: &Principal) -> Boxed<'_> {
    map([
        ("id", string(principal.account_id.to_string())),
        (
            "features",
            list(principal.features.iter().map(|f| string(f.as_str()))),
        ),
    ])
}

/// `project`: `id` and `sharedModels` (how many of its models are shared now).
fn project_value(project_id: &str, shared_models: u64) -> Boxed<'_> {
    let shared = i64::try_from(shared_models).unwrap_or(i64::MAX);
    map([
        ("id", string(project_id)),
        ("sharedModels", int(Some(shared))),
    ])
}

fn map<'v, const N: usize>(fields: [(&'static str, Boxed<'v>); N]) -> Boxed<'v> {
    let map: HashMap<CelMapKey<'v>, Boxed<'v>> = fields
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

fn list<'v>(items: impl Iterator<Item = Boxed<'v>>) -> Boxed<'v> {
    Box::new(CelList::from(items.collect::<Vec<_>>()))
}

fn string<'v>(s: impl Into<CelString<'v>>) -> Boxed<'v> {
    Box::new(s.into())
}

fn optional(s: Option<&str>) -> Boxed<'_> {
    s.map_or_else(null, string)
}

fn int<'v>(n: Option<i64>) -> Boxed<'v> {
    n.map_or_else(null, |n| Box::new(CelInt::from(n)))
}

fn null<'v>() -> Boxed<'v> {
    Box::new(CelNull)
}

fn timestamp<'v>(at: Timestamp) -> Boxed<'v> {
    Box::new(CelTimestamp::from(at.as_datetime().fixed_offset()))
}

impl RuleInput<'static> {
    /// A representative decision, every field set: a rule is run on it once at load, and must
    /// answer a bool.
    pub fn sample() -> Self {
        let at = Timestamp::from_datetime(chrono::DateTime::UNIX_EPOCH);
        Self {
            model: Some(map([
                ("id", string("00000000-0000-0000-0000-000000000000")),
                ("name", string("sample")),
                ("status", string("ready")),
                ("architecture", string("llama")),
                ("parameterCount", int(Some(7_000_000_000))),
                ("contextLength", int(Some(8192))),
                ("license", string("apache-2.0")),
                ("tags", list([string("sample")].into_iter())),
                ("createdAt", timestamp(at)),
                ("sharedAt", timestamp(at)),
            ])),
            caller: Some(map([
                ("userId", string("00000000-0000-0000-0000-000000000000")),
                ("role", string("admin")),
                ("projectId", string("proj_sample")),
            ])),
            account: Some(map([
                ("id", string("00000000-0000-0000-0000-000000000000")),
                ("features", list([string("model_sharing")].into_iter())),
            ])),
            project: Some(project_value("proj_sample", 1)),
            now: Some(timestamp(at)),
        }
    }
}
