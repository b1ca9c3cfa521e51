//! Policies operators write themselves: rules in the Common Expression Language (CEL), one
//! `[policies.rules.NAME]` table each, named in `policies.share` / `policies.unshare` like a
//! built-in policy.
//!
//! ```toml
//! [policies.rules.no_copyleft]
//! applies_to = ["share"]
//! expression = "!(model.license in ['gpl-3.0', 'agpl-3.0'])"
//! code = "license_not_allowed"
//! status = 400
//! message = "Models under this licence cannot be shared."
//! ```
//!
//! The expression sees five roots (see [`input`]): `model`, `caller`, `account`, `project` and
//! `now`. It is compiled once, when the configuration is (re)loaded; one that does not compile,
//! names another variable or does not answer a bool on a sample decision stops the load with
//! `policies.rules.NAME.expression`, the position and the reason. `true` allows; `false` refuses
//! with the rule's code, status and message. An expression that fails when it runs refuses too
//! (fail closed): 403 `policy_error` naming the rule, logged and counted in
//! `modelshare_policy_errors_total{policy}`.

mod compile;
pub mod input;

use async_trait::async_trait;
use cel::Value;
use domain::{ErrorCode, ShareAction};

use crate::builtin::Params;
use crate::chains::{PolicyConfigError, PolicyParams};
use crate::policy::{CustomStatus, Denial, Policy, PolicyContext, Verdict};
pub use compile::ExpressionError;
use compile::{Compiled, ENV};
use input::RuleInput;

/// One operator's rule, compiled.
pub struct CelRule {
    name: String,
    share: bool,
    unshare: bool,
    compiled: Compiled,
    /// What a `false` answers.
    denial: Denial,
}

impl std::fmt::Debug for CelRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelRule").field("name", &self.name).finish()
    }
}

impl CelRule {
    /// Reads and compiles `[policies.rules.NAME]`.
    pub fn from_params(name: &str, table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let key = format!("rules.{name}");
        let bad = |param: &str, message: String| PolicyConfigError::bad_param(&key, param, message);
        let mut p = Params::new(&key, table);
        let applies_to = p.strings("applies_to")?.unwrap_or_default();
        let expression = p.string("expression")?;
        let code = p.string("code")?;
        let status = p.integer("status")?;
        let message = p.string("message")?;
        p.finish()?;
        let (share, unshare) = actions(&applies_to).map_err(|m| bad("applies_to", m))?;
        let expression = expression.ok_or_else(|| bad("expression", "is required".into()))?;
        let code = code
            .filter(|c| is_code(c))
            .ok_or_else(|| bad("code", "must be lowercase letters, digits and `_`".into()))?;
        let status = match status {
            Some(400) => CustomStatus::BadRequest,
            Some(403) => CustomStatus::Forbidden,
            _ => return Err(bad("status", "must be 400 or 403".into())),
        };
        let message = message
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| bad("message", "must not be empty".into()))?;
        let compiled =
            compile::compile(&expression).map_err(|err| bad("expression", err.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            share,
            unshare,
            compiled,
            denial: Denial::custom(status, code, message),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the rule is for `action` (it allows the other without looking).
    pub fn applies_to(&self, action: ShareAction) -> bool {
        match action {
            ShareAction::Share => self.share,
            ShareAction::Unshare => self.unshare,
        }
    }

    /// Runs the expression on `input`: `Ok` when it answers `true`, the rule's denial when
    /// `false`, 403 `policy_error` (logged and counted) when it fails.
    pub fn decide(&self, input: &RuleInput) -> Result<(), Denial> {
        match self.compiled.program.execute(&input.context(&ENV)) {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(Value::Bool(false)) => Err(self.denial.clone()),
            Ok(other) => Err(self.failed(&format!("returned a {}, not a bool", other.type_of()))),
            Err(err) => Err(self.failed(&err.to_string())),
        }
    }

    /// Fail closed: the refusal for an expression that could not decide.
    fn failed(&self, reason: &str) -> Denial {
        tracing::error!(policy = %self.name, error = reason, "policy rule failed; refusing");
        metrics::counter!("modelshare_policy_errors_total", "policy" => self.name.clone())
            .increment(1);
        Denial::new(
            ErrorCode::PolicyError,
            format!(
                "The policy rule {} could not be evaluated, so the request is refused.",
                self.name
            ),
        )
    }
}

#[async_trait]
impl Policy for CelRule {
    fn needs_model(&self) -> bool {
        self.compiled.roots.model
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        if !self.applies_to(ctx.action) {
            return Ok(());
        }
        let roots = self.compiled.roots;
        let model = if roots.model {
            Some(ctx.model()?)
        } else {
            None
        };
        let shared = if roots.project {
            ctx.store
                .count_shared_models_in_project(&ctx.principal.project_id)
                .await?
        } else {
            0
        };
        let input = RuleInput::build(roots, ctx.principal, model, shared, domain::now());
        self.decide(&input).map_err(Verdict::Deny)
    }
}

/// `applies_to` as (share, unshare); neither is an error.
fn actions(applies_to: &[String]) -> Result<(bool, bool), String> {
    let (mut share, mut unshare) = (false, false);
    for action in applies_to {
        match action.as_str() {
            "share" => share = true,
            "unshare" => unshare = true,
            other => {
                return Err(format!(
                    "unknown action {other:?}; use \"share\", \"unshare\""
                ));
            }
        }
    }
    if !(share || unshare) {
        return Err("must list \"share\", \"unshare\" or both".into());
    }
    Ok((share, unshare))
}

/// A code clients can branch on: `[a-z0-9_]+`, starting with a letter.
fn is_code(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
#[cfg(test)]
mod tests;
