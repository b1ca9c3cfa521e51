//! The seed pattern of the catalog benchmarks (the same as `bench/src/db/seed.rs`).

use domain::{ModelId, ModelStatus, Timestamp};
use storage::{CatalogRow, Model};

const ARCHITECTURES: [&str; 7] = [
    "llama", "mistral", "qwen", "gemma", "phi", "falcon", "mixtral",
];
const ADJECTIVES: [&str; 13] = [
    "swift", "bright", "tiny", "deep", "open", "nimble", "quiet", "bold", "lucid", "decoded",
    "calm", "keen", "sturdy",
];
const FAMILIES: [&str; 3] = ["chat", "code", "vision"];
const NOUNS: [&str; 3] = ["chat", "coder", "vision"];
const LICENSES: [&str; 5] = ["apache-2.0", "mit", "llama3", "gemma", "cc-by-nc-4.0"];
const CONTEXTS: [i64; 6] = [2048, 4096, 8192, 16384, 32768, 131_072];

pub fn row(i: usize) -> CatalogRow {
    let n = i64::try_from(i).unwrap();
    let architecture = if i % 1009 == 5 {
        "mamba"
    } else {
        ARCHITECTURES[i % 7]
    };
    let at = Timestamp::from(chrono::DateTime::from_timestamp(1_000_000 + n, 0).unwrap());
    let mut tags = vec![FAMILIES[i % 3].to_owned(), format!("t{}", i % 11)];
    if i.is_multiple_of(4) {
        tags.push("instruct".into());
    }
    CatalogRow {
        model: Model {
            id: ModelId::new(),
            project_id: "proj_BENCH01".parse().unwrap(),
            name: format!(
                "cat-{i} {} {architecture} {}",
                ADJECTIVES[i % 13],
                NOUNS[i % 3]
            ),
            description: format!(
                "Benchmark model {i} of the cat set, a fine-tuned {architecture} checkpoint for {} tasks.",
                FAMILIES[i % 3]
            ),
            status: ModelStatus::Ready,
            architecture: Some(architecture.into()),
            parameter_count: Some((n % 241 + 1) * 500_000_000),
            context_length: Some(CONTEXTS[i % 6]),
            license: Some(LICENSES[i % 5].into()),
            tags,
            shared: true,
            shared_at: Some(at),
            unshared_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        },
        owner_name: "Bench".into(),
        endpoint_count: n % 5,
    }
}
