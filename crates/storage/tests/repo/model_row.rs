//! The `models` row read back over every column by every path that reads it: the write's own
//! `RETURNING` (group commit), the entity read (`get_model`, the CLI's), the one-model catalog
//! read (the tailer's) and the whole-catalog load (start-up, one chunked path per database).

use domain::{ModelId, ModelStatus, ShareAction};
use storage::{Model, NewModel, Store};

use crate::fixtures::{acme, apply, ts};

both!(every_column_round_trips, absent_optional_columns_round_trip);

/// `new` registered, shared, unshared and shared again (so both times are set), then read by
/// every path; each must give exactly the row the last write returned, which must hold every
/// value written.
async fn round_trip(store: &Store, new: NewModel) {
    let created = store.create_model(new.clone()).await.unwrap();
    let shared = apply(store, &created, ShareAction::Share, ts(1_900_000_000)).await;
    let unshared = apply(store, &shared, ShareAction::Unshare, ts(1_900_000_100)).await;
    let last = apply(store, &unshared, ShareAction::Share, ts(1_900_000_200)).await;

    let expected = Model {
        id: new.id,
        project_id: new.project_id.clone(),
        name: new.name.clone(),
        description: new.description.clone(),
        status: new.status,
        architecture: new.architecture.clone(),
        parameter_count: new.parameter_count,
        context_length: new.context_length,
        license: new.license.clone(),
        tags: new.tags.clone(),
        shared: true,
        shared_at: Some(ts(1_900_000_200)),
        unshared_at: Some(ts(1_900_000_100)),
        version: 3,
        created_at: created.created_at,
        updated_at: ts(1_900_000_200),
    };
    assert_eq!(last, expected, "RETURNING");
    let read = store.get_model(new.id).await.unwrap().unwrap();
    assert_eq!(read, expected, "get_model");
    let one = store.get_catalog_row(new.id).await.unwrap().unwrap();
    assert_eq!(one.model, expected, "get_catalog_row");
    assert_eq!(one.owner_name, "Acme Models");
    let mut loaded = Vec::new();
    store.load_catalog(|row| loaded.push(row)).await.unwrap();
    let from_load = loaded.iter().find(|row| row.model.id == new.id).unwrap();
    assert_eq!(from_load, &one, "load_catalog");
}

/// Every column holds a value, text with quotes, backslashes, newlines and non-ASCII.
async fn every_column_round_trips(store: Store) {
    let acme = acme(&store).await;
    round_trip(
        &store,
        NewModel {
            id: ModelId::new(),
            project_id: acme.project.id.clone(),
            name: "Llamá \"3\" \\ 8B".to_owned(),
            description: "Line one,\nline \"two\" — ünïcode, 'quotes' and \\ too.".to_owned(),
            status: ModelStatus::Active,
            architecture: Some("llama".to_owned()),
            parameter_count: Some(70_000_000_000),
            context_length: Some(131_072),
            license: Some("apache-2.0".to_owned()),
            tags: vec!["chat".to_owned(), "日本語".to_owned(), "a\"b".to_owned()],
        },
    )
    .await;
}

/// Every optional column absent, no tags, an empty description.
async fn absent_optional_columns_round_trip(store: Store) {
    let acme = acme(&store).await;
    round_trip(
        &store,
        NewModel {
            id: ModelId::new(),
            project_id: acme.project.id.clone(),
            name: "m".to_owned(),
            description: String::new(),
            status: ModelStatus::Ready,
            architecture: None,
            parameter_count: None,
            context_length: None,
            license: None,
            tags: Vec::new(),
        },
    )
    .await;
}
