//! `[policies]`: the chains, the built-in policies' parameter tables and the operators' rules,
//! as the files say them; [`Settings::policy_config`] hands them to the policy registry.

use serde::Deserialize;

use super::{Settings, SettingsError};

/// `[policies]`: the two chains, one parameter table per policy (`[policies.NAME]`) and the
/// operators' rules (`[policies.rules.NAME]`).
/// The names and parameters are checked against the policy registry when the service starts.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    pub share: Vec<String>,
    pub unshare: Vec<String>,
    #[serde(flatten)]
    pub params: std::collections::BTreeMap<String, toml::Value>,
}

impl Settings {
    /// The policy chains and parameter tables, for the policy registry.
    pub fn policy_config(&self) -> Result<auth::PolicyConfig, SettingsError> {
        let mut params = std::collections::BTreeMap::new();
        let mut rules = std::collections::BTreeMap::new();
        for (name, value) in &self.policies.params {
            if name == "rules" {
                rules = rule_tables(value)?;
                continue;
            }
            let toml::Value::Table(table) = value else {
                return Err(SettingsError::Policy(format!(
                    "policies.{name}: must be a table of parameters ([policies.{name}])"
                )));
            };
            params.insert(name.clone(), table.clone());
        }
        Ok(auth::PolicyConfig {
            share: self.policies.share.clone(),
            unshare: self.policies.unshare.clone(),
            params,
            rules,
        })
    }
}

/// `[policies.rules]`: one table per rule (`[policies.rules.NAME]`).
fn rule_tables(
    value: &toml::Value,
) -> Result<std::collections::BTreeMap<String, toml::Table>, SettingsError> {
    let not_tables = || {
        SettingsError::Policy(
            "policies.rules: must hold one table per rule ([policies.rules.NAME])".into(),
        )
    };
    let toml::Value::Table(rules) = value else {
        return Err(not_tables());
    };
    rules
        .iter()
        .map(|(name, rule)| match rule {
            toml::Value::Table(table) => Ok((name.clone(), table.clone())),
            _ => Err(not_tables()),
        })
        .collect()
}
