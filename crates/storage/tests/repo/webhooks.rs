//! Webhook deliveries: claimed once under a lease (whoever claims concurrently), never more in
//! flight per webhook than its bound, recorded only by the claim's holder; a webhook whose
//! events all fail is disabled; fanning an event out twice makes its deliveries once.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use domain::{DeliveryStatus, EventType, ShareAction};
use storage::{AttemptNext, Attempted, NewDelivery, NewWebhook, Recorded, Store, Webhook};

use crate::fixtures::{acme, member, model, share, ts};

both!(
    concurrent_claims_take_each_delivery_once,
    a_webhook_has_at_most_its_bound_in_flight,
    only_the_holder_records_and_failures_disable,
    an_event_fanned_out_twice_is_delivered_once,
    finished_deliveries_are_pruned_pending_ones_kept,
);

async fn webhook(store: &Store, project: &domain::ProjectId, user: domain::UserId) -> Webhook {
    store
        .create_webhook(NewWebhook {
            project_id: project.clone(),
            url: "https://hooks.example.com/x".into(),
            events: vec![EventType::ModelShared, EventType::ModelUnshared],
            description: String::new(),
            sealed_secret: "v1:00".into(),
            created_by_user_id: user,
        })
        .await
        .unwrap()
}

fn delivery(webhook: &Webhook, n: usize) -> NewDelivery {
    NewDelivery {
        webhook_id: webhook.id,
        project_id: webhook.project_id.clone(),
        event_id: format!("evt_{n}"),
        event_type: EventType::ModelShared,
        payload: format!("{{\"n\":{n}}}"),
        fanout_key: format!("evt_{n}"),
    }
}

async fn hooks(store: &Store, count: usize) -> Vec<Webhook> {
    let tenant = acme(store).await;
    let admin = member(store, &tenant, "admin@acme.example", domain::Role::Admin).await;
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(webhook(store, &tenant.project.id, admin.id).await);
    }
    out
}

async fn concurrent_claims_take_each_delivery_once(store: Store) {
    let hooks = hooks(&store, 10).await;
    for (i, hook) in hooks.iter().enumerate() {
        for n in 0..4 {
            store
                .insert_delivery(delivery(hook, i * 10 + n))
                .await
                .unwrap();
        }
    }
    let now = Utc::now();
    let until = now + Duration::seconds(30);
    let claims = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_deliveries(now, uuid::Uuid::new_v4(), until, 16, 100)
                .await
                .unwrap()
        })
    });
    let mut seen = HashSet::new();
    for claim in claims {
        for d in claim.await.unwrap() {
            assert!(
                seen.insert(d.delivery.id),
                "{} claimed twice",
                d.delivery.id
            );
        }
    }
    assert_eq!(seen.len(), 40);
    // All held: nothing left to claim until the leases run out.
    assert!(!store.has_due_deliveries(now).await.unwrap());
    let after = until + Duration::seconds(1);
    assert!(store.has_due_deliveries(after).await.unwrap());
    let again = store
        .claim_deliveries(
            after,
            uuid::Uuid::new_v4(),
            after + Duration::seconds(30),
            100,
            100,
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 40, "leases that ran out are taken over");
}

async fn a_webhook_has_at_most_its_bound_in_flight(store: Store) {
    let hooks = hooks(&store, 2).await;
    for n in 0..10 {
        store.insert_delivery(delivery(&hooks[0], n)).await.unwrap();
    }
    store
        .insert_delivery(delivery(&hooks[1], 99))
        .await
        .unwrap();
    let now = Utc::now();
    let until = now + Duration::seconds(30);
    let first = store
        .claim_deliveries(now, uuid::Uuid::new_v4(), until, 100, 3)
        .await
        .unwrap();
    let of_first = first
        .iter()
        .filter(|d| d.delivery.webhook_id == hooks[0].id)
        .count();
    assert_eq!(of_first, 3);
    assert!(
        first.iter().any(|d| d.delivery.webhook_id == hooks[1].id),
        "starved"
    );
    // Another claimer, while those are in flight: none of the first webhook's.
    let second = store
        .claim_deliveries(now, uuid::Uuid::new_v4(), until, 100, 3)
        .await
        .unwrap();
    assert!(second.is_empty(), "{second:?}");
}

async fn only_the_holder_records_and_failures_disable(store: Store) {
    let hooks = hooks(&store, 1).await;
    let hook = &hooks[0];
    for n in 0..2 {
        store.insert_delivery(delivery(hook, n)).await.unwrap();
    }
    let now = Utc::now();
    let token = uuid::Uuid::new_v4();
    let claimed = store
        .claim_deliveries(now, token, now + Duration::seconds(30), 10, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let failed = Attempted {
        at: now,
        response_status: Some(500),
        duration_ms: 3,
        error: Some("the receiver answered 500".into()),
        next: AttemptNext::Failed,
    };
    let id = claimed[0].delivery.id;
    assert_eq!(
        store
            .record_attempt(id, uuid::Uuid::new_v4(), &failed, 2)
            .await
            .unwrap(),
        Recorded::NotHeld
    );
    assert_eq!(
        store.record_attempt(id, token, &failed, 2).await.unwrap(),
        Recorded::Written
    );
    assert_eq!(
        store.record_attempt(id, token, &failed, 2).await.unwrap(),
        Recorded::NotHeld,
        "recorded twice"
    );
    let second = claimed[1].delivery.id;
    assert_eq!(
        store
            .record_attempt(second, token, &failed, 2)
            .await
            .unwrap(),
        Recorded::Disabled
    );
    let now_hook = store
        .get_webhook(&hook.project_id, hook.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!now_hook.active);
    assert_eq!(now_hook.failed_events, 2);
    let list = store
        .list_deliveries(hook.id, None, 10)
        .await
        .unwrap()
        .items;
    assert!(
        list.iter()
            .all(|d| d.status == DeliveryStatus::Failed && d.attempt == 1)
    );
    assert!(list.iter().all(|d| d.next_attempt_at.is_none()));
    // Re-enabled: its count starts afresh.
    let on = store
        .set_webhook_active(&hook.project_id, hook.id, true)
        .await
        .unwrap()
        .unwrap();
    assert!(on.active && on.failed_events == 0);
}

async fn an_event_fanned_out_twice_is_delivered_once(store: Store) {
    let tenant = acme(&store).await;
    let admin = member(&store, &tenant, "admin@acme.example", domain::Role::Admin).await;
    let hook = webhook(&store, &tenant.project.id, admin.id).await;
    let m = model(&store, &tenant.project.id, "m1").await;
    // An event written after the webhook was made (whole seconds: one later).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    share(&store, &m, ts(Utc::now().timestamp())).await;
    let build = |event: &storage::FanoutEvent| {
        assert_eq!(event.event.action, ShareAction::Share);
        event
            .owner_webhooks
            .iter()
            .map(|(id, _)| NewDelivery {
                webhook_id: *id,
                project_id: event.event.project_id.clone(),
                event_id: format!("evt_{}", event.event.id),
                event_type: EventType::ModelShared,
                payload: "{}".into(),
                fanout_key: format!("evt_{}", event.event.id),
            })
            .collect::<Vec<_>>()
    };
    let horizon = store.outbox_horizon().await.unwrap();
    assert_eq!(
        store.fan_out_webhooks(horizon, 100, build).await.unwrap(),
        1
    );
    // Again, until nothing is left to read: on PostgreSQL the final read meets the event once
    // more when its transaction falls below the horizon (other transactions on the server may
    // hold that back a while). It makes no second delivery.
    let mut rounds = 0;
    loop {
        let horizon = store.outbox_horizon().await.unwrap();
        if store.fan_out_webhooks(horizon, 100, build).await.unwrap() == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 100, "the fan-out never ran dry");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = store
        .list_deliveries(hook.id, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, DeliveryStatus::Pending);
    // The database refuses the same event's delivery to the same webhook twice.
    let event_id = format!(
        "evt_{}",
        store.list_share_events(m.id, None, 1).await.unwrap().items[0].id
    );
    let twice = store
        .insert_delivery(NewDelivery {
            webhook_id: hook.id,
            project_id: tenant.project.id.clone(),
            event_id: event_id.clone(),
            event_type: EventType::ModelShared,
            payload: "{}".into(),
            fanout_key: event_id,
        })
        .await;
    assert!(twice.is_err(), "{twice:?}");
    assert_eq!(
        store
            .list_deliveries(hook.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn finished_deliveries_are_pruned_pending_ones_kept(store: Store) {
    let hooks = hooks(&store, 1).await;
    let hook = &hooks[0];
    for n in 0..2 {
        store.insert_delivery(delivery(hook, n)).await.unwrap();
    }
    let now = Utc::now();
    let token = uuid::Uuid::new_v4();
    let claimed = store
        .claim_deliveries(now, token, now + Duration::seconds(30), 1, 10)
        .await
        .unwrap();
    let done = Attempted {
        at: now,
        response_status: Some(200),
        duration_ms: 1,
        error: None,
        next: AttemptNext::Succeeded,
    };
    store
        .record_attempt(claimed[0].delivery.id, token, &done, 20)
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_finished_deliveries(now - Duration::days(1))
            .await
            .unwrap(),
        0
    );
    let later = now + Duration::days(1);
    assert_eq!(store.delete_finished_deliveries(later).await.unwrap(), 1);
    let left = store
        .list_deliveries(hook.id, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, DeliveryStatus::Pending);
}
