//! Against the simulator in-process, through the engine: answers lost after
//! the simulator applied the call are not repeated in effect.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::action::tests::Calls;
use crate::clock::VirtualClock;
use crate::engine::Engine;
use crate::flow::Flow;
use crate::providers::paypal::sim::{Fault, PayPalSim, RequestFault, SimConfig};
use crate::store::{IssueRow, IssueState, SqliteOptions, SqliteStore};

struct Env {
    engine: Engine<Calls>,
    clock: VirtualClock,
    sim: PayPalSim,
}

async fn env() -> Env {
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let sim = PayPalSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        // The credentials of the test flow's `paypal` connection.
        client_id: "paypal-client".into(),
        client_secret: "paypal-secret".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store = SqliteStore::open(SqliteOptions::new(":memory:", Calls::NAME)).unwrap();
    let engine =
        Engine::<Calls>::with_base_url(Arc::new(store), Arc::new(clock.clone()), Some(&sim.url()));
    Env { engine, clock, sim }
}

fn invoice(number: &str, price: &str) -> Value {
    json!({
        "currency": "EUR", "invoice_number": number,
        "recipient_email": "payer@example.com",
        "items": [{"name": "Box", "quantity": "2", "unit_amount": {"amount": price, "currency": "EUR"}}]
    })
}

impl Env {
    /// Runs one action to its end, moving the clock on to each retry.
    async fn run(&self, action: &str, inputs: Value) -> IssueRow {
        let id = self
            .engine
            .start(
                &json!({"provider": "paypal", "action": action, "connection": "paypal",
                           "inputs": inputs, "batch": false}),
            )
            .await
            .unwrap();
        for _ in 0..20 {
            self.engine.run_due(8).await.unwrap();
            let row = self.engine.store().load(&id).await.unwrap().unwrap();
            if row.state != IssueState::Running {
                return row;
            }
            if let Some(next) = self.engine.store().next_wake().await.unwrap() {
                self.clock.advance_to(next);
            }
        }
        panic!("issue {id} did not settle");
    }

    fn lose_next(&self, path: &str) {
        self.sim.inject(RequestFault {
            fault: Fault::LoseAnswer,
            count: 1,
            path_prefix: Some(path.into()),
        });
    }

    /// How many API requests `METHOD /path` the simulator answered.
    fn count(&self, route: &str) -> usize {
        self.sim
            .state()
            .requests()
            .iter()
            .filter(|r| format!("{} {}", r.method, r.path) == route)
            .count()
    }

    async fn created(&self, number: &str) -> String {
        let row = self.run("create_invoice", invoice(number, "12.50")).await;
        assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
        row.data["result"]["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_adopts_the_one_invoice_made() {
    let e = env().await;
    // A first attempt that is answered looks for nothing.
    e.created("D-0").await;
    assert_eq!(e.count("POST /v2/invoicing/search-invoices"), 0);

    e.lose_next("/v2/invoicing/invoices");
    let row = e.run("create_invoice", invoice("D-1", "12.50")).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let ours: Vec<Value> = e
        .sim
        .state()
        .invoices()
        .into_iter()
        .filter(|i| i["detail"]["invoice_number"] == "D-1")
        .collect();
    assert_eq!(ours.len(), 1, "exactly one invoice D-1");
    assert_eq!(row.data["result"]["id"], ours[0]["id"]);
    assert_eq!(row.data["result"]["status"], "DRAFT");
    assert_eq!(
        row.data["result"]["amount"],
        json!({"amount": "25.00", "currency": "EUR"})
    );
    // Two creates (D-0, D-1), the lost one not repeated: a search and a read instead.
    assert_eq!(e.count("POST /v2/invoicing/invoices"), 2);
    assert_eq!(e.count("POST /v2/invoicing/search-invoices"), 1);
}

#[tokio::test]
async fn a_duplicate_number_adopts_our_invoice_and_fails_on_anothers() {
    let e = env().await;
    let first = e.created("D-2").await;
    // The same invoice again (a repeat the ledger could not tell): adopted.
    let row = e.run("create_invoice", invoice("D-2", "12.50")).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(row.data["result"]["id"], first.as_str());
    // The same number for another amount: PayPal's error, nothing adopted.
    let row = e.run("create_invoice", invoice("D-2", "99.00")).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(err.contains("DUPLICATE_INVOICE_NUMBER"), "{err}");
    assert!(err.contains("is not this issue's"), "{err}");
    assert_eq!(e.sim.state().invoices().len(), 1);
}

#[tokio::test]
async fn send_remind_and_cancel_whose_answers_were_lost_are_not_sent_twice() {
    let e = env().await;
    let id = e.created("D-3").await;
    let at = |verb: &str| format!("/v2/invoicing/invoices/{id}/{verb}");

    e.lose_next(&at("send"));
    let row = e.run("send_invoice", json!({"invoice_id": id})).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.count(&format!("POST {}", at("send"))), 1);
    let inv = e.sim.state().invoice(&id).unwrap();
    assert_eq!(inv["status"], "SENT");
    assert_eq!(
        row.data["result"]["link"],
        inv["detail"]["metadata"]["recipient_view_url"]
    );

    e.lose_next(&at("remind"));
    let row = e.run("remind_invoice", json!({"invoice_id": id})).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.count(&format!("POST {}", at("remind"))), 1);
    let inv = e.sim.state().invoice(&id).unwrap();
    assert_eq!(inv["detail"]["metadata"]["reminders"], 1);

    e.lose_next(&at("cancel"));
    let row = e.run("cancel_invoice", json!({"invoice_id": id})).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.count(&format!("POST {}", at("cancel"))), 1);
    assert_eq!(e.sim.state().invoice(&id).unwrap()["status"], "CANCELLED");
}

#[tokio::test]
async fn a_send_that_did_not_happen_is_sent() {
    // The answer never came because the request failed before PayPal applied it.
    let e = env().await;
    let id = e.created("D-4").await;
    e.sim.inject(RequestFault {
        fault: Fault::ServerError,
        count: 1,
        path_prefix: Some(format!("/v2/invoicing/invoices/{id}/send")),
    });
    let row = e.run("send_invoice", json!({"invoice_id": id})).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.sim.state().invoice(&id).unwrap()["status"], "SENT");
    assert_eq!(
        e.count(&format!("GET /v2/invoicing/invoices/{id}")),
        1,
        "looked once before repeating"
    );
}
