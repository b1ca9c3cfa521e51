//! What a rule's expression sees: the five roots `model`, `caller`, `account`, `project` and
//! `now`, as CEL values built from a policy's context (or from a sample, to check a rule at load).

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value;
use cel::objects::{Key, Map};
use domain::Timestamp;
use storage::Model;

use crate::principal::Principal;

/// The variables a rule may name; anything else stops the load.
pub const ROOTS: [&str; 5] = ["model", "caller", "account", "project", "now"];

/// The values of the five roots for one decision. A root a rule does not name is left out.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub model: Option<Value>,
    pub caller: Option<Value>,
    pub account: Option<Value>,
    pub project: Option<Value>,
    pub now: Option<Value>,
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

impl RuleInput {
    /// The roots `roots` names, for `principal` and `model`; `shared_models` is the project's
    /// count of shared models (asked for only when `project` is named).
    pub fn build(
        roots: Roots,
        principal: &Principal,
        model: Option<&Model>,
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
    pub fn context(&self, env: &Arc<cel::Env>) -> cel::Context<'static, 'static> {
        let mut context = cel::Context::with_env(Arc::clone(env));
        let roots = [
            ("model", &self.model),
            ("caller", &self.caller),
            ("account", &self.account),
            ("project", &self.project),
            ("now", &self.now),
        ];
        for (name, value) in roots {
            if let Some(value) = value {
                context.add_variable_from_value(name, value.clone());
            }
        }
        context
    }
}

/// `model`: the fields of the contract's model, camelCase; absent ones are `null`.
pub fn model_value(model: &Model) -> Value {
    map([
        ("id", string(model.id.to_string())),
        ("name", string(&model.name)),
        ("status", string(model.status.as_str())),
        ("architecture", optional(model.architecture.as_deref())),
        (
            "parameterCount",
            model.parameter_count.map_or(Value::Null, Value::Int),
        ),
        (
            "contextLength",
            model.context_length.map_or(Value::Null, Value::Int),
        ),
        ("license", optional(model.license.as_deref())),
        (
            "tags",
            Value::List(Arc::new(model.tags.iter().map(string).collect())),
        ),
        ("createdAt", timestamp(model.created_at)),
        ("sharedAt", model.shared_at.map_or(Value::Null, timestamp)),
    ])
}

/// `caller`: `userId`, `role` (`admin`, `member`, `viewer`), `projectId`.
fn caller_value(principal: &Principal) -> Value {
    map([
        ("userId", string(principal.user_id.to_string())),
        ("role", string(principal.role.to_string())),
        ("projectId", string(principal.project_id.as_str())),
    ])
}

/// `account`: `id` and `features` (a list of names).
fn account_value(principal: &Principal) -> Value {
    let features = principal
        .features
        .iter()
        .map(|f| string(f.as_str()))
        .collect();
    map([
        ("id", string(principal.account_id.to_string())),
        ("features", Value::List(Arc::new(features))),
    ])
}

/// `project`: `id` and `sharedModels` (how many of its models are shared now).
fn project_value(project_id: &str, shared_models: u64) -> Value {
    map([
        ("id", string(project_id)),
        (
            "sharedModels",
            Value::Int(i64::try_from(shared_models).unwrap_or(i64::MAX)),
        ),
    ])
}

fn map<const N: usize>(fields: [(&'static str, Value); N]) -> Value {
    let map: HashMap<Key, Value> = fields
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_owned())), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

fn string(s: impl ToString) -> Value {
    Value::String(Arc::new(s.to_string()))
}

fn optional(s: Option<&str>) -> Value {
    s.map_or(Value::Null, string)
}

fn timestamp(at: Timestamp) -> Value {
    Value::Timestamp(at.as_datetime().fixed_offset())
}

impl RuleInput {
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
                ("parameterCount", Value::Int(7_000_000_000)),
                ("contextLength", Value::Int(8192)),
                ("license", string("apache-2.0")),
                ("tags", Value::List(Arc::new(vec![string("sample")]))),
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
                (
                    "features",
                    Value::List(Arc::new(vec![string("model_sharing")])),
                ),
            ])),
            project: Some(project_value("proj_sample", 1)),
            now: Some(timestamp(at)),
        }
    }
}
