//! What a committed share event becomes: one delivery per subscription it concerns, each with
//! its body fixed once (the same bytes on every attempt) and an event id derived from the share
//! event, so that it is the same whichever instance fans it out, and however often.
//!
//! Envelope, as the platform's webhooks use it:
//! `{"id": "evt_…", "object": "event", "type", "created_at", "data": {…}}`.

use domain::{
    EndpointId, EventType, ModelId, ProjectId, ScheduleId, ShareAction, Timestamp, UserId,
    WebhookId,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use storage::{FanoutEvent, NewDelivery};

/// The envelope of every event.
#[derive(Debug, Serialize)]
struct Envelope<'a, D> {
    id: &'a str,
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: D,
}

/// `model.shared` and `model.unshared`, to the owner's subscriptions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelData<'a> {
    model_id: ModelId,
    project_id: &'a ProjectId,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unshared_at: Option<String>,
    actor_user_id: Option<UserId>,
    request_id: &'a str,
    schedule_id: Option<ScheduleId>,
}

/// `endpoint.model_unshared`, to another project with endpoints on the model: its own
/// endpoints only, and nothing of the owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointData<'a> {
    model_id: ModelId,
    unshared_at: String,
    endpoint_ids: &'a [EndpointId],
}

/// `ping`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PingData {
    webhook_id: WebhookId,
}

/// `evt_` and 32 hex digits of a hash of what the event is: the share event, the event type,
/// and the project told. Stable across retries, instances and fan-outs.
pub fn event_id(share_event_id: i64, kind: EventType, project: &ProjectId) -> String {
    let digest = Sha256::digest(format!(
        "modelshare event {share_event_id} {} {project}",
        kind.as_str()
    ));
    let hex = hex::encode(digest);
    format!("evt_{}", hex.get(..32).unwrap_or(&hex))
}

fn body<D: Serialize>(id: &str, kind: EventType, at: Timestamp, data: D) -> String {
    let envelope = Envelope {
        id,
        object: "event",
        kind: kind.as_str(),
        created_at: at.to_rfc3339(),
        data,
    };
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// One event of `kind` for `project`, to each of `webhooks` subscribed to `kind`; the body is
/// made (by `data`) only if one is.
fn to_subscribers<D: Serialize>(
    webhooks: &[(WebhookId, Vec<EventType>)],
    kind: EventType,
    project: &ProjectId,
    share_event: &storage::ShareEvent,
    data: impl FnOnce() -> D,
    out: &mut Vec<NewDelivery>,
) {
    let subscribed: Vec<WebhookId> = webhooks
        .iter()
        .filter(|(_, events)| events.contains(&kind))
        .map(|(id, _)| *id)
        .collect();
    if subscribed.is_empty() {
        return;
    }
    let id = event_id(share_event.id, kind, project);
    let payload = body(&id, kind, share_event.at, data());
    out.extend(subscribed.into_iter().map(|webhook_id| NewDelivery {
        webhook_id,
        project_id: project.clone(),
        event_id: id.clone(),
        event_type: kind,
        payload: payload.clone(),
        fanout_key: id.clone(),
    }));
}

/// The deliveries of one share event: to each of the owner's subscriptions to its type, and on
/// an unshare to each other project's subscriptions to `endpoint.model_unshared`.
pub fn deliveries_of(fanout: &FanoutEvent) -> Vec<NewDelivery> {
    let event = &fanout.event;
    let mut out = Vec::new();
    let (kind, shared_at, unshared_at) = match event.action {
        ShareAction::Share => (EventType::ModelShared, Some(event.at.to_rfc3339()), None),
        ShareAction::Unshare => (EventType::ModelUnshared, None, Some(event.at.to_rfc3339())),
    };
    let owner = &event.project_id;
    to_subscribers(
        &fanout.owner_webhooks,
        kind,
        owner,
        event,
        || ModelData {
            model_id: event.model_id,
            project_id: owner,
            shared_at,
            unshared_at,
            actor_user_id: event.actor_user_id,
            request_id: &event.request_id,
            schedule_id: event.schedule_id,
        },
        &mut out,
    );
    if event.action == ShareAction::Unshare {
        for project in &fanout.endpoint_projects {
            to_subscribers(
                &project.webhooks,
                EventType::EndpointModelUnshared,
                &project.project_id,
                event,
                || EndpointData {
                    model_id: event.model_id,
                    unshared_at: event.at.to_rfc3339(),
                    endpoint_ids: &project.endpoint_ids,
                },
                &mut out,
            );
        }
    }
    out
}

/// A `ping` to one webhook, with an event id of its own.
pub fn ping(webhook_id: WebhookId, project_id: &ProjectId) -> NewDelivery {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let payload = body(&id, EventType::Ping, domain::now(), PingData { webhook_id });
    NewDelivery {
        webhook_id,
        project_id: project_id.clone(),
        event_id: id.clone(),
        event_type: EventType::Ping,
        payload,
        fanout_key: id,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use storage::{EndpointProject, ShareEvent};

    fn project(s: &str) -> ProjectId {
        ProjectId::parse(s).unwrap()
    }

    fn unshare() -> FanoutEvent {
        FanoutEvent {
            event: ShareEvent {
                id: 42,
                model_id: ModelId::new(),
                project_id: project("proj_OWNER1"),
                action: ShareAction::Unshare,
                actor_user_id: Some(UserId::new()),
                api_key_id: None,
                request_id: "req-1".into(),
                server_request_id: None,
                schedule_id: None,
                at: domain::now(),
            },
            owner_webhooks: vec![
                (WebhookId::generate(), vec![EventType::ModelShared]),
                (WebhookId::generate(), vec![EventType::ModelUnshared]),
            ],
            endpoint_projects: vec![
                EndpointProject {
                    project_id: project("proj_OTHER1"),
                    endpoint_ids: vec![EndpointId::new()],
                    webhooks: vec![(
                        WebhookId::generate(),
                        vec![EventType::EndpointModelUnshared],
                    )],
                },
                EndpointProject {
                    project_id: project("proj_OTHER2"),
                    endpoint_ids: vec![EndpointId::new()],
                    webhooks: vec![(WebhookId::generate(), vec![EventType::ModelUnshared])],
                },
            ],
        }
    }

    #[test]
    fn an_unshare_tells_subscribers_of_its_type_only() {
        let fanout = unshare();
        let out = deliveries_of(&fanout);
        assert_eq!(out.len(), 2, "{out:?}");
        let owner = &out[0];
        assert_eq!(owner.webhook_id, fanout.owner_webhooks[1].0);
        assert_eq!(owner.event_type, EventType::ModelUnshared);
        let body: serde_json::Value = serde_json::from_str(&owner.payload).unwrap();
        assert_eq!(body["type"], "model.unshared");
        assert_eq!(body["object"], "event");
        assert_eq!(body["id"], owner.event_id.as_str());
        assert_eq!(body["data"]["projectId"], "proj_OWNER1");
        assert_eq!(body["data"]["requestId"], "req-1");
        assert!(body["data"]["scheduleId"].is_null());
        assert!(body["data"].get("unsharedAt").is_some());
        let other = &out[1];
        assert_eq!(other.project_id.as_str(), "proj_OTHER1");
        let body: serde_json::Value = serde_json::from_str(&other.payload).unwrap();
        assert_eq!(body["type"], "endpoint.model_unshared");
        let data = body["data"].as_object().unwrap();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["endpointIds", "modelId", "unsharedAt"]);
        assert!(!other.payload.contains("proj_OWNER1"));
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let p = project("proj_OWNER1");
        let a = event_id(7, EventType::ModelShared, &p);
        assert_eq!(a, event_id(7, EventType::ModelShared, &p));
        assert_eq!(a.len(), 36);
        assert_ne!(a, event_id(8, EventType::ModelShared, &p));
        assert_ne!(a, event_id(7, EventType::ModelUnshared, &p));
        assert_ne!(
            a,
            event_id(7, EventType::ModelShared, &project("proj_OTHER1"))
        );
    }
}
