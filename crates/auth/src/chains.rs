//! The configured chains: a [`PolicyRegistry`] maps names to factories that build a policy
//! from its config table; [`PolicyChains`] run the policies `policies.share` and
//! `policies.unshare` name, in order, and answer with a [`Permit`] or a [`Refusal`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use domain::ShareAction;
use storage::{Model, StorageError, Store, WriteGuard};

use crate::policy::{Denial, Policy, PolicyContext, Verdict};
use crate::principal::Principal;
use crate::rules::CelRule;

/// A policy's parameters as written in `[policies.NAME]`.
pub type PolicyParams = toml::Table;

/// A bad chain or parameter; start-up stops with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("policies.{chain}: unknown policy {name:?}; known policies: {known}")]
    UnknownPolicy {
        chain: &'static str,
        name: String,
        known: String,
    },
    #[error("policies.{policy}: unknown policy {policy:?} has parameters; known policies: {known}")]
    UnknownTable { policy: String, known: String },
    #[error("policies.rules.{rule}: a built-in policy has this name; choose another")]
    RuleShadowsPolicy { rule: String },
    #[error("policies.{chain}: rule {rule:?} does not apply to {chain} (see its applies_to)")]
    RuleNotForChain { chain: &'static str, rule: String },
    #[error("policies.{policy}.{param}: {message}")]
    BadParam {
        policy: String,
        param: String,
        message: String,
    },
}

impl PolicyConfigError {
    pub fn bad_param(policy: &str, param: &str, message: impl Into<String>) -> Self {
        Self::BadParam {
            policy: policy.to_owned(),
            param: param.to_owned(),
            message: message.into(),
        }
    }
}

type Factory =
    Box<dyn Fn(&PolicyParams) -> Result<Arc<dyn Policy>, PolicyConfigError> + Send + Sync>;

/// Names → factories. Start from [`PolicyRegistry::with_builtins`] and [`register`] your own.
///
/// [`register`]: PolicyRegistry::register
pub struct PolicyRegistry {
    factories: BTreeMap<String, Factory>,
}

impl fmt::Debug for PolicyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

/// What the configuration says: the two chains, each policy's parameter table and the
/// operators' rules (`[policies.rules.NAME]`, see [`crate::rules`]).
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    pub share: Vec<String>,
    pub unshare: Vec<String>,
    pub params: BTreeMap<String, PolicyParams>,
    pub rules: BTreeMap<String, PolicyParams>,
}

impl PolicyRegistry {
    /// An empty registry.
    pub fn empty() -> Self {
        Self {
            factories: BTreeMap::new(),
        }
    }

    /// The built-in policies: `account_feature`, `project_role`, `model_status`,
    /// `currently_shared`, `max_shared_models`, `require_license`.
    pub fn with_builtins() -> Self {
        let mut registry = Self::empty();
        crate::builtin::register_all(&mut registry);
        registry
    }

    /// Adds (or replaces) a policy under `name`.
    pub fn register<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&PolicyParams) -> Result<Arc<dyn Policy>, PolicyConfigError> + Send + Sync + 'static,
    {
        self.factories.insert(name.to_owned(), Box::new(factory));
        self
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    fn known(&self) -> String {
        self.names().collect::<Vec<_>>().join(", ")
    }

    /// Builds both chains; every parameter table must belong to a known policy and be valid,
    /// whether or not a chain uses it.
    pub fn build(&self, config: &PolicyConfig) -> Result<PolicyChains, PolicyConfigError> {
        let empty = PolicyParams::new();
        let mut built: BTreeMap<&str, Arc<dyn Policy>> = BTreeMap::new();
        for (name, params) in &config.params {
            let factory =
                self.factories
                    .get(name)
                    .ok_or_else(|| PolicyConfigError::UnknownTable {
                        policy: name.clone(),
                        known: self.known(),
                    })?;
            built.insert(name, factory(params)?);
        }
        let rules = self.rules(config)?;
        let chain = |chain: &'static str, names: &[String]| {
            names
                .iter()
                .map(|name| {
                    if let Some(rule) = rules.get(name.as_str()) {
                        let action = match chain {
                            "share" => ShareAction::Share,
                            _ => ShareAction::Unshare,
                        };
                        if !rule.applies_to(action) {
                            return Err(PolicyConfigError::RuleNotForChain {
                                chain,
                                rule: name.clone(),
                            });
                        }
                        let policy: Arc<dyn Policy> = rule.clone();
                        return Ok(NamedPolicy {
                            name: name.clone(),
                            policy,
                        });
                    }
                    if let Some(policy) = built.get(name.as_str()) {
                        return Ok(NamedPolicy {
                            name: name.clone(),
                            policy: Arc::clone(policy),
                        });
                    }
                    let factory = self.factories.get(name).ok_or_else(|| {
                        PolicyConfigError::UnknownPolicy {
                            chain,
                            name: name.clone(),
                            known: self.known(),
                        }
                    })?;
                    Ok(NamedPolicy {
                        name: name.clone(),
                        policy: factory(&empty)?,
                    })
                })
                .collect::<Result<Vec<_>, PolicyConfigError>>()
        };
        Ok(PolicyChains {
            share: chain("share", &config.share)?,
            unshare: chain("unshare", &config.unshare)?,
        })
    }
}

impl PolicyRegistry {
    /// Compiles every rule, used by a chain or not; a rule may not take a registered name.
    fn rules(
        &self,
        config: &PolicyConfig,
    ) -> Result<BTreeMap<String, Arc<CelRule>>, PolicyConfigError> {
        config
            .rules
            .iter()
            .map(|(name, table)| {
                if self.factories.contains_key(name) {
                    return Err(PolicyConfigError::RuleShadowsPolicy { rule: name.clone() });
                }
                Ok((name.clone(), Arc::new(CelRule::from_params(name, table)?)))
            })
            .collect()
    }
}

#[derive(Clone)]
struct NamedPolicy {
    name: String,
    policy: Arc<dyn Policy>,
}

/// The configured share and unshare chains, ready to run.
#[derive(Clone)]
pub struct PolicyChains {
    share: Vec<NamedPolicy>,
    unshare: Vec<NamedPolicy>,
}

impl fmt::Debug for PolicyChains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyChains")
            .field("share", &self.names(ShareAction::Share))
            .field("unshare", &self.names(ShareAction::Unshare))
            .finish()
    }
}

/// A chain's refusal, with the name of the policy that refused (for metrics and logs).
#[derive(Debug)]
pub struct Refusal {
    pub policy: String,
    pub verdict: Verdict,
}

impl Refusal {
    /// The name under which a missing (or invisible) model is refused: the check every chain
    /// ends with, which no configuration can remove.
    pub const MODEL_EXISTS: &'static str = "model_exists";

    /// 404 `model_not_found`, from [`Refusal::MODEL_EXISTS`].
    pub fn model_not_found() -> Self {
        Self {
            policy: Self::MODEL_EXISTS.to_owned(),
            verdict: Verdict::Deny(Denial::model_not_found()),
        }
    }

    /// 409 `model_not_shared`, from the `currently_shared` policy (also checked by the model's
    /// actor on fresh state, whatever the chain says).
    pub fn model_not_shared() -> Self {
        Self {
            policy: crate::builtin::CurrentlyShared::NAME.to_owned(),
            verdict: Verdict::Deny(Denial::model_not_shared()),
        }
    }
}

/// One policy's answer in a dry run ([`PolicyChains::check_all`]): passed, or its denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub policy: String,
    pub denial: Option<Denial>,
}

/// A chain's consent to write, with the guards its policies ask the write to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permit {
    /// Each guard with the name of the policy that asked for it.
    guards: Vec<(String, WriteGuard)>,
}

impl Permit {
    /// The guards, for [`storage::Transition::guards`].
    pub fn guards(&self) -> Vec<WriteGuard> {
        self.guards.iter().map(|(_, guard)| *guard).collect()
    }

    /// The refusal when the write found `guard` broken with `shared` models shared: the same
    /// the policy that asked for the guard gives when its own check fails.
    pub fn refusal(&self, guard: WriteGuard, shared: u64) -> Refusal {
        let policy = self
            .guards
            .iter()
            .find(|(_, g)| *g == guard)
            .map_or("write_guard", |(name, _)| name.as_str());
        Refusal {
            policy: policy.to_owned(),
            verdict: Verdict::Deny(crate::builtin::guard_refusal(guard, shared)),
        }
    }
}

impl PolicyChains {
    pub fn names(&self, action: ShareAction) -> Vec<&str> {
        self.chain(action).iter().map(|p| p.name.as_str()).collect()
    }

    fn chain(&self, action: ShareAction) -> &[NamedPolicy] {
        match action {
            ShareAction::Share => &self.share,
            ShareAction::Unshare => &self.unshare,
        }
    }

    /// Runs the chain's checks that come before its first check of the model (those that
    /// need only the caller: feature, role), in order; the first refusal answers. A caller
    /// refused here is refused the same way by [`PolicyChains::evaluate`].
    pub async fn evaluate_caller(
        &self,
        action: ShareAction,
        principal: &Principal,
        store: &Store,
    ) -> Result<(), Refusal> {
        let ctx = PolicyContext {
            action,
            principal,
            model: None,
            store,
        };
        for named in self
            .chain(action)
            .iter()
            .take_while(|named| !named.policy.needs_model())
        {
            named.policy.check(&ctx).await.map_err(|verdict| Refusal {
                policy: named.name.clone(),
                verdict,
            })?;
        }
        Ok(())
    }

    /// Runs the chain in order; the first refusal answers. `model` is the model if it exists in
    /// the caller's project.
    pub async fn evaluate(
        &self,
        action: ShareAction,
        principal: &Principal,
        model: Option<&Model>,
        store: &Store,
    ) -> Result<(), Refusal> {
        self.permit(action, principal, model, store).await.map(drop)
    }

    /// [`evaluate`](Self::evaluate), and when the chain allows, the guards its policies ask
    /// the write to check.
    pub async fn permit(
        &self,
        action: ShareAction,
        principal: &Principal,
        model: Option<&Model>,
        store: &Store,
    ) -> Result<Permit, Refusal> {
        let ctx = PolicyContext {
            action,
            principal,
            model,
            store,
        };
        for named in self.chain(action) {
            if named.policy.needs_model() && model.is_none() {
                return Err(Refusal::model_not_found());
            }
            named.policy.check(&ctx).await.map_err(|verdict| Refusal {
                policy: named.name.clone(),
                verdict,
            })?;
        }
        if model.is_none() {
            return Err(Refusal::model_not_found());
        }
        let guards = self
            .chain(action)
            .iter()
            .filter_map(|named| {
                let guard = named.policy.write_guard(&ctx)?;
                Some((named.name.clone(), guard))
            })
            .collect();
        Ok(Permit { guards })
    }

    /// Every policy of `action`'s chain on `model` (the caller's, freshly read), in chain order,
    /// none skipped after a refusal; then the rule of the model's own state
    /// ([`Standing`](crate::Standing)), when the chain does not already say it. Nothing is
    /// written. A policy that cannot decide (the database) fails the whole run.
    pub async fn check_all(
        &self,
        action: ShareAction,
        principal: &Principal,
        model: &Model,
        store: &Store,
    ) -> Result<Vec<Check>, StorageError> {
        let ctx = PolicyContext {
            action,
            principal,
            model: Some(model),
            store,
        };
        let mut checks = Vec::with_capacity(self.chain(action).len() + 1);
        for named in self.chain(action) {
            let denial = match named.policy.check(&ctx).await {
                Ok(()) => None,
                Err(Verdict::Deny(denial)) => Some(denial),
                Err(Verdict::Failed(err)) => return Err(err),
            };
            checks.push(Check {
                policy: named.name.clone(),
                denial,
            });
        }
        let standing = crate::Standing::of(action, principal, Some(model));
        if let Some(refusal) = standing.refusal(action)
            && !checks.iter().any(|c| c.policy == refusal.policy)
            && let Verdict::Deny(denial) = refusal.verdict
        {
            checks.push(Check {
                policy: refusal.policy,
                denial: Some(denial),
            });
        }
        Ok(checks)
    }
}
