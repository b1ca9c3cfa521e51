//! The standing outbox: every change to what a key may do leaves a row, written in the change's
//! transaction, and this process's listeners hear of it before the call returns.

use std::sync::{Arc, Mutex};

use domain::{Feature, Role};
use storage::{StandingChange, Store};

use crate::fixtures::{acme, key, member};

both!(each_standing_change_leaves_one_row_and_is_heard_here);

/// Revoking a key, giving, changing and taking away a membership and switching a feature each
/// write one row naming what changed, in order, and tell this process's listeners; removing a
/// membership that does not exist writes nothing.
async fn each_standing_change_leaves_one_row_and_is_heard_here(store: Store) {
    let acme = acme(&store).await;
    let alice = member(&store, &acme, "alice@acme.test", Role::Admin).await;
    let alices_key = key(&store, &acme, &alice, [3u8; 32]).await;
    let heard = Arc::new(Mutex::new(Vec::new()));
    let hearing = Arc::clone(&heard);
    store.on_standing_change(move |change| hearing.lock().unwrap().push(change.clone()));
    let start = store.standing_newest_id().await.unwrap();

    let pid = acme.project.id.clone();
    store.revoke_api_key(alices_key.id).await.unwrap();
    store
        .set_membership(&pid, alice.id, Role::Viewer)
        .await
        .unwrap();
    assert!(store.remove_membership(&pid, alice.id).await.unwrap());
    assert!(!store.remove_membership(&pid, alice.id).await.unwrap());
    store
        .set_account_feature(acme.account.id, Feature::ModelSharing, false)
        .await
        .unwrap();

    let membership = StandingChange::Membership {
        project_id: pid.clone(),
        user_id: alice.id,
    };
    let expected = vec![
        StandingChange::Key(alices_key.id),
        membership.clone(),
        membership,
        StandingChange::Account(acme.account.id),
    ];
    let rows = store.standing_after_id(start, 100).await.unwrap();
    let written: Vec<StandingChange> = rows.iter().map(|e| e.change.clone()).collect();
    assert_eq!(written, expected);
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(*heard.lock().unwrap(), expected);
    assert_eq!(
        store.standing_newest_id().await.unwrap(),
        rows.last().unwrap().id
    );
    // Two at a time, from the middle.
    let tail = store.standing_after_id(rows[1].id, 2).await.unwrap();
    assert_eq!(tail, rows[2..4].to_vec());
}
