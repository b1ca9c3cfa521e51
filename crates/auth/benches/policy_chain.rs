//! What CEL rules add to a share's decision: the built-in share chain alone, then the same chain
//! with five CEL rules, each a whole [`PolicyChains::permit`] on one model (what the model's actor
//! runs per transition). Run: `cargo bench -p auth --bench policy_chain`.
//!
//! The five rules read the model, the caller, the account and `now`; none names `project`,
//! whose `sharedModels` is a database count (measured apart as `builtin_plus_5_cel_and_count`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Duration;

use auth::{PolicyChains, PolicyConfig, PolicyParams, PolicyRegistry, Principal};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{ApiKeyId, Feature, ModelId, ModelStatus, Role, ShareAction, UserId};
use storage::{DbSettings, Model, SqliteSynchronous, Store};

const BUILTIN: [&str; 3] = ["account_feature", "project_role", "model_status"];

const RULES: [(&str, &str); 5] = [
    (
        "no_copyleft",
        "!(model.license in ['gpl-2.0', 'gpl-3.0', 'agpl-3.0'])",
    ),
    (
        "over_one_billion",
        "model.parameterCount != null && model.parameterCount > 1000000000",
    ),
    ("reviewed_only", "'reviewed' in model.tags"),
    (
        "fridays_for_viewers",
        "caller.role != 'viewer' || account.id != 'x' || now.getDayOfWeek() == 5",
    ),
    ("sharing_enabled", "'model_sharing' in account.features"),
];

fn rule(expression: &str) -> PolicyParams {
    let mut table = PolicyParams::new();
    table.insert("applies_to".into(), vec!["share"].into());
    table.insert("expression".into(), expression.into());
    table.insert("code".into(), "refused".into());
    table.insert("status".into(), 400.into());
    table.insert("message".into(), "Refused.".into());
    table
}

fn chains(rules: &[(&str, &str)]) -> PolicyChains {
    let mut share: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    share.extend(rules.iter().map(|(name, _)| name.to_string()));
    let config = PolicyConfig {
        share,
        unshare: vec![],
        params: Default::default(),
        rules: rules
            .iter()
            .map(|(name, expression)| (name.to_string(), rule(expression)))
            .collect(),
    };
    PolicyRegistry::with_builtins().build(&config).unwrap()
}

fn principal() -> Principal {
    Principal {
        user_id: UserId::new(),
        api_key_id: ApiKeyId::new(),
        project_id: "proj_BENCH01".parse().unwrap(),
        project_slug: "bench".parse().unwrap(),
        project_name: "Bench".into(),
        account_id: "0190a0f0-0000-7000-8000-000000000001".parse().unwrap(),
        role: Role::Admin,
        features: BTreeSet::from([Feature::ModelSharing]),
    }
}

fn model() -> Model {
    let at = domain::now();
    Model {
        id: ModelId::new(),
        project_id: "proj_BENCH01".parse().unwrap(),
        name: "bench-7b".into(),
        description: String::new(),
        status: ModelStatus::Ready,
        architecture: Some("llama".into()),
        parameter_count: Some(7_000_000_000),
        context_length: Some(8192),
        license: Some("apache-2.0".into()),
        tags: vec!["chat".into(), "reviewed".into()],
        shared: false,
        shared_at: None,
        unshared_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// A store on a scratch SQLite file (only the count of the last variant reads it).
async fn store() -> Store {
    let path = std::env::temp_dir().join(format!("policy-bench-{}.db", std::process::id()));
    let store = Store::connect(&DbSettings {
        url: format!("sqlite://{}?mode=rwc", path.display()),
        max_connections: 2,
        min_connections: 1,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
        sqlite_busy_timeout: Duration::from_secs(5),
        sqlite_synchronous: SqliteSynchronous::Normal,
        writer_stall: Duration::from_secs(10),
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(store());
    let (principal, model) = (principal(), model());
    let mut with_count = RULES.to_vec();
    with_count[4] = ("project_quota", "project.sharedModels < 100");
    let variants = [
        ("builtin", chains(&[])),
        ("builtin_plus_5_cel", chains(&RULES)),
        ("builtin_plus_5_cel_and_count", chains(&with_count)),
    ];
    let mut group = c.benchmark_group("share_decision");
    for (name, chains) in &variants {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let permit = runtime.block_on(chains.permit(
                    ShareAction::Share,
                    &principal,
                    Some(&model),
                    &store,
                ));
                black_box(permit.unwrap());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
