#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use domain::{ApiKeyId, Feature, ModelId, ModelStatus, Role, Timestamp, UserId};
use storage::Model;

use super::input::{Roots, RuleInput};
use super::*;
use crate::{PolicyConfig, PolicyRegistry, Principal};

fn table(toml_text: &str) -> PolicyParams {
    toml_text.parse::<toml::Table>().unwrap()
}

fn rule(expression: &str) -> Result<CelRule, PolicyConfigError> {
    let mut t =
        table("applies_to = [\"share\"]\ncode = \"refused\"\nstatus = 403\nmessage = \"No.\"\n");
    t.insert("expression".into(), expression.into());
    CelRule::from_params("r", &t)
}

fn error_of(expression: &str) -> String {
    rule(expression).unwrap_err().to_string()
}

pub(crate) fn principal(role: Role, account: &str) -> Principal {
    Principal {
        user_id: UserId::new(),
        api_key_id: ApiKeyId::new(),
        project_id: "proj_ABC123".parse().unwrap(),
        project_slug: "demo".parse().unwrap(),
        project_name: "Demo".into(),
        account_id: account.parse().unwrap(),
        role,
        features: BTreeSet::from([Feature::ModelSharing]),
    }
}

pub(crate) fn model() -> Model {
    let at = domain::now();
    Model {
        id: ModelId::new(),
        project_id: "proj_ABC123".parse().unwrap(),
        name: "m".into(),
        description: String::new(),
        status: ModelStatus::Ready,
        architecture: Some("llama".into()),
        parameter_count: Some(7_000_000_000),
        context_length: Some(8192),
        license: Some("apache-2.0".into()),
        tags: vec!["reviewed".into()],
        shared: false,
        shared_at: None,
        unshared_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

const ACCOUNT: &str = "0190a0f0-0000-7000-8000-000000000001";

/// 2026-01-16 was a Friday.
fn friday() -> Timestamp {
    Timestamp::from(chrono::DateTime::from_timestamp(1_768_564_800, 0).unwrap())
}

fn input<'v>(
    principal: &'v Principal,
    model: &'v Model,
    shared: u64,
    now: Timestamp,
) -> RuleInput<'v> {
    let all = Roots::of(input::ROOTS);
    RuleInput::build(all, principal, Some(model), shared, now)
}

#[test]
fn a_rule_that_does_not_parse_names_its_key_and_position() {
    let message = error_of("model.license ==");
    assert!(
        message.starts_with("policies.rules.r.expression: line 1, column "),
        "{message}"
    );
}

#[test]
fn an_unknown_variable_is_named_with_its_position() {
    let message = error_of("model.name == 'x' && user.role == 'admin'");
    assert_eq!(
        message,
        "policies.rules.r.expression: line 1, column 22: unknown variable `user`; a rule may name: model, caller, account, project, now"
    );
}

#[test]
fn comprehension_variables_are_not_unknown() {
    rule("model.tags.exists(t, t.startsWith('rev'))").unwrap();
    rule("model.tags.all(t, t != 'x') && [1, 2].map(n, n * 2).size() == 2").unwrap();
}

#[test]
fn a_rule_must_answer_a_bool() {
    let message = error_of("model.parameterCount + 1");
    assert_eq!(
        message,
        "policies.rules.r.expression: must return a bool; it returns int (on a sample model)"
    );
}

#[test]
fn an_unknown_field_fails_on_the_sample() {
    let message = error_of("model.licence == 'mit'");
    assert!(message.contains("fails on a sample model"), "{message}");
}

#[test]
fn status_code_and_actions_are_checked() {
    let bad = |extra: &str, key: &str| {
        let mut t = table(
            "applies_to = [\"share\"]\nexpression = \"true\"\ncode = \"c\"\nstatus = 403\nmessage = \"m\"\n",
        );
        t.remove(key);
        let t2 = table(extra);
        for (k, v) in t2 {
            t.insert(k, v);
        }
        CelRule::from_params("r", &t).unwrap_err().to_string()
    };
    assert_eq!(
        bad("status = 404", ""),
        "policies.rules.r.status: must be 400 or 403"
    );
    assert!(bad("code = \"Bad Code\"", "").starts_with("policies.rules.r.code:"));
    assert!(bad("applies_to = []", "").starts_with("policies.rules.r.applies_to:"));
    assert!(bad("", "expression").starts_with("policies.rules.r.expression: is required"));
    assert!(bad("colour = 1", "").contains("policies.rules.r.colour: unknown parameter"));
}

#[test]
fn false_refuses_with_the_rules_code_and_status() {
    let rule = rule("model.parameterCount > 10000000000").unwrap();
    let caller = principal(Role::Admin, ACCOUNT);
    let denial = rule
        .decide(&input(&caller, &model(), 0, friday()))
        .unwrap_err();
    assert_eq!(denial.code, "refused");
    assert_eq!(denial.status.as_u16(), 403);
    assert_eq!(denial.message, "No.");
}

#[test]
fn an_evaluation_error_refuses_with_policy_error_naming_the_rule() {
    // Compiles and answers a bool on the sample (parameterCount set), fails on null.
    let rule = rule("model.parameterCount / 2 > 0").unwrap();
    let caller = principal(Role::Admin, ACCOUNT);
    let mut m = model();
    m.parameter_count = None;
    let denial = rule.decide(&input(&caller, &m, 0, friday())).unwrap_err();
    assert_eq!(denial.code, "policy_error");
    assert_eq!(denial.status.as_u16(), 403);
    assert!(
        denial.message.contains("policy rule r "),
        "{}",
        denial.message
    );
}

#[test]
fn a_rule_is_a_policy_in_the_chain_and_may_not_take_a_builtin_name() {
    let config = |share: &[&str], name: &str| {
        PolicyConfig {
        share: share.iter().map(|s| s.to_string()).collect(),
        unshare: vec![],
        params: Default::default(),
        rules: [(
            name.to_owned(),
            table("applies_to = [\"share\"]\nexpression = \"true\"\ncode = \"c\"\nstatus = 400\nmessage = \"m\"\n"),
        )]
        .into(),
    }
    };
    let registry = PolicyRegistry::with_builtins();
    let chains = registry
        .build(&config(&["project_role", "mine"], "mine"))
        .unwrap();
    assert_eq!(
        chains.names(ShareAction::Share),
        vec!["project_role", "mine"]
    );
    let err = registry
        .build(&config(&[], "project_role"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a built-in policy has this name"), "{err}");
    let mut unshare = config(&[], "mine");
    unshare.unshare = vec!["mine".into()];
    let err = registry.build(&unshare).unwrap_err().to_string();
    assert_eq!(
        err,
        "policies.unshare: rule \"mine\" does not apply to unshare (see its applies_to)"
    );
}

/// The README's "Writing policies" rules, each run on a case it must allow and one it must
/// refuse: the README cannot drift from what the service does.
#[test]
fn the_readme_rules_allow_and_refuse_what_the_readme_says() {
    let readme = include_str!("../../../../README.md");
    let rules = readme_rules(readme);
    let names: BTreeSet<&str> = rules.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "no_copyleft",
            "over_one_billion_parameters",
            "reviewed_only",
            "viewers_share_on_fridays",
            "project_quota",
        ])
    );
    let admin = principal(Role::Admin, ACCOUNT);
    let viewer = principal(Role::Viewer, ACCOUNT);
    let other_viewer = principal(Role::Viewer, "0190a0f0-0000-7000-8000-000000000002");
    let thursday = Timestamp::from(chrono::DateTime::from_timestamp(1_768_478_400, 0).unwrap());
    let with = |change: &dyn Fn(&mut Model)| {
        let mut m = model();
        change(&mut m);
        m
    };
    for rule in &rules {
        let decide = |p: &Principal, m: &Model, shared: u64, now: Timestamp| {
            rule.decide(&input(p, m, shared, now)).is_ok()
        };
        let m = model();
        let (allowed, refused) = match rule.name() {
            "no_copyleft" => (
                decide(&admin, &m, 0, friday()),
                decide(
                    &admin,
                    &with(&|m| m.license = Some("gpl-3.0".into())),
                    0,
                    friday(),
                ),
            ),
            "over_one_billion_parameters" => (
                decide(&admin, &m, 0, friday()),
                decide(
                    &admin,
                    &with(&|m| m.parameter_count = Some(500_000_000)),
                    0,
                    friday(),
                ) || decide(&admin, &with(&|m| m.parameter_count = None), 0, friday()),
            ),
            "reviewed_only" => (
                decide(&admin, &m, 0, friday()),
                decide(
                    &admin,
                    &with(&|m| m.tags = vec!["draft".into()]),
                    0,
                    friday(),
                ),
            ),
            "viewers_share_on_fridays" => (
                decide(&viewer, &m, 0, friday())
                    && decide(&admin, &m, 0, thursday)
                    && decide(&other_viewer, &m, 0, thursday),
                decide(&viewer, &m, 0, thursday),
            ),
            "project_quota" => (
                decide(&admin, &m, 9, friday()),
                decide(&admin, &m, 10, friday()),
            ),
            other => panic!("no cases for README rule {other}"),
        };
        assert!(allowed, "{} refused a case it must allow", rule.name());
        assert!(!refused, "{} allowed a case it must refuse", rule.name());
    }
}

/// Every `[policies.rules.NAME]` table in the README's TOML blocks, compiled.
fn readme_rules(readme: &str) -> Vec<CelRule> {
    let blocks = readme
        .split("```toml")
        .skip(1)
        .filter_map(|rest| rest.split("```").next());
    let mut rules = Vec::new();
    for block in blocks.filter(|b| b.contains("[policies.rules.")) {
        let parsed: toml::Table = block.parse().unwrap_or_else(|e| panic!("{e}\n{block}"));
        let tables = parsed["policies"]["rules"].as_table().unwrap();
        for (name, t) in tables {
            let rule = CelRule::from_params(name, t.as_table().unwrap())
                .unwrap_or_else(|e| panic!("README rule {name}: {e}"));
            rules.push(rule);
        }
    }
    rules
}
