//! Idempotency keys: one claim wins, a finished request's response is kept, another request
//! with the key is told apart, a claim whose holder died is taken over, and old keys go.

use std::time::Duration;

use domain::Role;
use storage::{Claimed, IdempotencyClaim, Store, StoredResponse};

use crate::fixtures::{Tenant, acme, key, member, other};

both!(
    one_claim_wins_and_its_response_is_kept,
    a_released_or_abandoned_claim_runs_again,
    keys_expire_and_are_swept,
    concurrent_claims_of_one_key_let_one_run
);

const HOUR: Duration = Duration::from_secs(3600);

fn claim<'a>(
    api_key: domain::ApiKeyId,
    key: &'a str,
    fingerprint: &'a str,
) -> IdempotencyClaim<'a> {
    IdempotencyClaim {
        api_key_id: api_key,
        key,
        fingerprint,
        lease: HOUR,
        ttl: HOUR,
    }
}

/// What `claim` finds.
async fn claims(store: &Store, claim: IdempotencyClaim<'_>) -> Claimed {
    store.claim_idempotency_key(claim).await.unwrap()
}

/// A key of a new admin of `tenant`.
async fn api_key(store: &Store, tenant: &Tenant, hash: u8) -> domain::ApiKeyId {
    let user = member(store, tenant, &format!("a{hash}@example.test"), Role::Admin).await;
    key(store, tenant, &user, [hash; 32]).await.id
}

/// The first claim runs; while it runs the same request is in flight and another is a reuse;
/// once completed the response comes back as stored (binary body and headers intact); another
/// API key's same key is its own.
async fn one_claim_wins_and_its_response_is_kept(store: Store) {
    let alice = api_key(&store, &acme(&store).await, 1).await;
    assert_eq!(claims(&store, claim(alice, "k1", "f1")).await, Claimed::Run);
    assert_eq!(
        claims(&store, claim(alice, "k1", "f1")).await,
        Claimed::InFlight
    );
    assert_eq!(
        claims(&store, claim(alice, "k1", "f2")).await,
        Claimed::Reused
    );
    let response = StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("location".to_owned(), "/p/v1/endpoints/x".to_owned()),
        ],
        body: b"{\"id\":\"\xe2\x9c\x93\",\"n\":\"\\u0000\"}\n\x00\xff".to_vec(),
    };
    store
        .complete_idempotency_key(alice, "k1", &response)
        .await
        .unwrap();
    assert_eq!(
        claims(&store, claim(alice, "k1", "f1")).await,
        Claimed::Done(response.clone())
    );
    assert_eq!(
        claims(&store, claim(alice, "k1", "f2")).await,
        Claimed::Reused
    );
    // Completing again changes nothing: the first response stays.
    let later = StoredResponse {
        status: 500,
        headers: vec![],
        body: vec![],
    };
    store
        .complete_idempotency_key(alice, "k1", &later)
        .await
        .unwrap();
    assert_eq!(
        claims(&store, claim(alice, "k1", "f1")).await,
        Claimed::Done(response)
    );
    let bob = api_key(&store, &other(&store).await, 2).await;
    assert_eq!(claims(&store, claim(bob, "k1", "f1")).await, Claimed::Run);
}

/// A released claim, and one whose lease ran out without a response, run again; a completed
/// one is not released.
async fn a_released_or_abandoned_claim_runs_again(store: Store) {
    let alice = api_key(&store, &acme(&store).await, 3).await;
    assert_eq!(claims(&store, claim(alice, "k", "f")).await, Claimed::Run);
    store.release_idempotency_key(alice, "k").await.unwrap();
    assert_eq!(claims(&store, claim(alice, "k", "f")).await, Claimed::Run);

    let short = IdempotencyClaim {
        lease: Duration::ZERO,
        ..claim(alice, "dead", "f")
    };
    assert_eq!(claims(&store, short).await, Claimed::Run);
    // Its holder never answered and the lease is over: the next claim takes it over, once.
    assert_eq!(
        claims(&store, claim(alice, "dead", "f")).await,
        Claimed::Run
    );
    assert_eq!(
        claims(&store, claim(alice, "dead", "f")).await,
        Claimed::InFlight
    );

    let done = StoredResponse {
        status: 200,
        headers: vec![],
        body: b"{}".to_vec(),
    };
    store
        .complete_idempotency_key(alice, "dead", &done)
        .await
        .unwrap();
    store.release_idempotency_key(alice, "dead").await.unwrap();
    assert_eq!(
        claims(&store, claim(alice, "dead", "f")).await,
        Claimed::Done(done)
    );
}

/// A key past its time to live is free for any request, and the sweep deletes only such keys.
async fn keys_expire_and_are_swept(store: Store) {
    let alice = api_key(&store, &acme(&store).await, 4).await;
    let done = StoredResponse {
        status: 200,
        headers: vec![],
        body: b"old".to_vec(),
    };
    assert_eq!(claims(&store, claim(alice, "old", "f")).await, Claimed::Run);
    store
        .complete_idempotency_key(alice, "old", &done)
        .await
        .unwrap();
    let expired = IdempotencyClaim {
        ttl: Duration::ZERO,
        ..claim(alice, "old", "another")
    };
    assert_eq!(claims(&store, expired).await, Claimed::Run);

    assert_eq!(claims(&store, claim(alice, "a", "f")).await, Claimed::Run);
    assert_eq!(claims(&store, claim(alice, "b", "f")).await, Claimed::Run);
    assert_eq!(store.sweep_idempotency_keys(HOUR).await.unwrap(), 0);
    // Keys are stamped in whole seconds: one second later, a zero time to live covers all three.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store.sweep_idempotency_keys(Duration::ZERO).await.unwrap(),
        3
    );
    assert_eq!(
        claims(&store, claim(alice, "a", "other")).await,
        Claimed::Run
    );
}

/// Fifty claims of one key at once (on SQLite, batched into few transactions by the lane): one
/// runs, the others find it in flight; fifty claims of fifty keys all run.
async fn concurrent_claims_of_one_key_let_one_run(store: Store) {
    let alice = api_key(&store, &acme(&store).await, 5).await;
    let same = (0..50).map(|_| claims(&store, claim(alice, "same", "f")));
    let found = futures_util::future::join_all(same).await;
    assert_eq!(
        found.iter().filter(|c| **c == Claimed::Run).count(),
        1,
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .all(|c| matches!(c, Claimed::Run | Claimed::InFlight))
    );
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let distinct = keys.iter().map(|k| claims(&store, claim(alice, k, "f")));
    let found = futures_util::future::join_all(distinct).await;
    assert!(found.iter().all(|c| *c == Claimed::Run), "{found:?}");
}
