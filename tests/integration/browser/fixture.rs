//! A small fixed catalog whose facet counts the browser tests know by heart.

use std::collections::BTreeMap;

use domain::{ModelId, ModelStatus};
use storage::NewModel;

use crate::helpers::{Tenant, TestApp};

/// One model of the fixture: name, architecture, parameters, context length, license, tags.
type Spec = (
    &'static str,
    &'static str,
    i64,
    i64,
    &'static str,
    &'static [&'static str],
);

/// Five shared models of one owner:
///
/// | name                | arch    | params | context | license    | tags                |
/// |---------------------|---------|--------|---------|------------|---------------------|
/// | llama-3-8b-instruct | llama   | 8.03B  | 8,192   | llama3     | chat, instruct      |
/// | codellama-13b       | llama   | 13B    | 16,384  | llama3     | code                |
/// | mistral-7b-v0.3     | mistral | 7.24B  | 32,768  | apache-2.0 | chat                |
/// | qwen3-1.7b          | qwen3   | 1.7B   | 32,768  | apache-2.0 | chat, multilingual  |
/// | phi-3-mini          | phi     | 3.8B   | 4,096   | mit        | instruct            |
pub const MODELS: [Spec; 5] = [
    (
        "llama-3-8b-instruct",
        "llama",
        8_030_000_000,
        8_192,
        "llama3",
        &["chat", "instruct"],
    ),
    (
        "codellama-13b",
        "llama",
        13_000_000_000,
        16_384,
        "llama3",
        &["code"],
    ),
    (
        "mistral-7b-v0.3",
        "mistral",
        7_240_000_000,
        32_768,
        "apache-2.0",
        &["chat"],
    ),
    (
        "qwen3-1.7b",
        "qwen3",
        1_700_000_000,
        32_768,
        "apache-2.0",
        &["chat", "multilingual"],
    ),
    (
        "phi-3-mini",
        "phi",
        3_800_000_000,
        4_096,
        "mit",
        &["instruct"],
    ),
];

/// The fixture's owner and its models by name.
pub struct Fixture {
    pub owner: Tenant,
    pub ids: BTreeMap<&'static str, ModelId>,
}

impl Fixture {
    pub fn id(&self, name: &str) -> String {
        self.ids[name].to_string()
    }
}

/// Creates and shares [`MODELS`] in a new tenant's project.
pub async fn small_catalog(app: &TestApp) -> Fixture {
    let owner = app.tenant().await;
    let mut ids = BTreeMap::new();
    for (name, arch, params, context, license, tags) in MODELS {
        let id = ModelId::new();
        app.store
            .create_model(NewModel {
                id,
                project_id: owner.project.clone(),
                name: name.into(),
                description: format!("{name}: a {arch} model for {}.", tags.join(" and ")),
                status: ModelStatus::Ready,
                architecture: Some(arch.into()),
                parameter_count: Some(params),
                context_length: Some(context),
                license: Some(license.into()),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            })
            .await
            .unwrap();
        app.shared(&owner, id).await;
        ids.insert(name, id);
    }
    Fixture { owner, ids }
}
