//! The catalog's reads: shared models per account, the whole catalog, one model's row with its
//! owner and endpoint count.

use domain::{ModelId, ProjectId};
use storage::Store;

use crate::fixtures::{acme, endpoints_of, model, other, project, share, ts};

both!(catalog, chunks);

// Not through `both!`: the test writes, by the database's URL, rows the store never would.
#[tokio::test]
async fn rows_that_do_not_decode_sqlite() {
    rows_that_do_not_decode(storage::testing::TestDb::sqlite()).await;
}

#[tokio::test]
async fn rows_that_do_not_decode_postgres() {
    if let Some(db) = storage::testing::TestDb::postgres_or_skip() {
        rows_that_do_not_decode(db).await;
    }
}

/// Only shared models are in the catalog, each with its project's name and its endpoints in
/// every project; a model's row is read alone too (shared or not), and follows a deletion.
async fn catalog(store: Store) {
    let (acme, other) = (acme(&store).await, other(&store).await);
    let ready = model(&store, &acme.project.id, "llama-7b").await;
    let shared = share(&store, &ready, ts(1_900_000_000)).await;
    let created = endpoints_of(&store, &acme, &other, shared.id).await;
    let paging = ProjectId::generate();
    project(&store, acme.account.id, paging.clone(), "paging", "Paging").await;
    let unshared = model(&store, &paging, "m0").await;

    let shared_in = |account| store.count_shared_models_in_account(account);
    assert_eq!(shared_in(acme.account.id).await.unwrap(), 1);
    assert_eq!(shared_in(other.account.id).await.unwrap(), 0);
    let mut catalog = Vec::new();
    store.load_catalog(|row| catalog.push(row)).await.unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].model.id, shared.id);
    assert!(catalog[0].model.shared);
    assert_eq!(catalog[0].owner_name, "Acme Models");
    assert_eq!(catalog[0].endpoint_count, 27);
    let row = store.get_catalog_row(shared.id).await.unwrap().unwrap();
    assert_eq!(row, catalog[0]);
    let unshared_row = store.get_catalog_row(unshared.id).await.unwrap().unwrap();
    assert!(!unshared_row.model.shared);
    assert_eq!(unshared_row.owner_name, "Paging");
    assert_eq!(unshared_row.endpoint_count, 0);
    assert_eq!(store.get_catalog_row(ModelId::new()).await.unwrap(), None);

    let deleted = store
        .delete_endpoint(&acme.project.id, created.chat.id)
        .await;
    assert!(deleted.unwrap());
    let row = store.get_catalog_row(shared.id).await.unwrap().unwrap();
    assert_eq!(row.endpoint_count, 26);
}

/// Chunk boundaries: every shared model once, none of the others, whatever the number of
/// models per statement (on PostgreSQL, rows per `FETCH`: a last batch full, short or empty),
/// each decoded as the one-model read decodes it; and the load leaves its connection fit for
/// the next write (its read-only transaction over).
async fn chunks(store: Store) {
    let acme = acme(&store).await;
    let mut shared = std::collections::BTreeSet::new();
    for i in 0..7 {
        let model = model(&store, &acme.project.id, &format!("m{i}")).await;
        if i % 3 != 1 {
            shared.insert(share(&store, &model, ts(1_900_000_000 + i)).await.id);
        }
    }
    assert_eq!(shared.len(), 5);
    for chunk in [1, 2, 4, 5, 100] {
        let (rows, loaded) = store.list_catalog_in_chunks(chunk).await.unwrap();
        assert_eq!(loaded.rows, 5, "chunk {chunk}");
        assert_eq!(loaded.undecodable, 0, "chunk {chunk}");
        let ids: std::collections::BTreeSet<ModelId> = rows.iter().map(|r| r.model.id).collect();
        assert_eq!(ids, shared, "chunk {chunk}");
        for row in rows {
            let one = store.get_catalog_row(row.model.id).await.unwrap().unwrap();
            assert_eq!(row, one, "chunk {chunk}");
        }
        model(&store, &acme.project.id, &format!("after-{chunk}")).await;
    }
}

/// A shared model whose row does not decode is passed over and counted, and every other row,
/// before and after it in its chunk, still loads: tags that are not JSON (on both databases),
/// and on SQLite, which stores any value in any column, a count that is text (the row's JSON
/// then does not decode at all).
async fn rows_that_do_not_decode(db: storage::testing::TestDb) {
    use sea_orm::ConnectionTrait;

    let store = crate::harness::open(&db).await;
    let acme = acme(&store).await;
    let mut shared = Vec::new();
    for i in 0..6 {
        let model = model(&store, &acme.project.id, &format!("m{i}")).await;
        shared.push(share(&store, &model, ts(1_900_000_000 + i)).await.id);
    }
    let raw = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let mut broken = vec![(shared[1], "tags = 'not json'")];
    if !db.is_postgres() {
        broken.push((shared[4], "parameter_count = 'lots'"));
    }
    for (id, set) in &broken {
        let id = if db.is_postgres() {
            format!("'{id}'")
        } else {
            format!("x'{}'", id.as_uuid().simple())
        };
        let sql = format!("UPDATE models SET {set} WHERE id = {id}");
        raw.execute_unprepared(&sql).await.unwrap();
    }
    let broken: Vec<ModelId> = broken.into_iter().map(|(id, _)| id).collect();
    for chunk in [2, 3, 100] {
        let (rows, loaded) = store.list_catalog_in_chunks(chunk).await.unwrap();
        let ids: std::collections::BTreeSet<ModelId> = rows.iter().map(|r| r.model.id).collect();
        let expected = shared
            .iter()
            .copied()
            .filter(|id| !broken.contains(id))
            .collect();
        assert_eq!(ids, expected, "chunk {chunk}");
        assert_eq!(
            loaded.rows,
            u64::try_from(expected.len()).unwrap(),
            "chunk {chunk}"
        );
        assert_eq!(
            loaded.undecodable,
            u64::try_from(broken.len()).unwrap(),
            "chunk {chunk}"
        );
    }
    raw.close().await.unwrap();
    store.close().await.unwrap();
}
