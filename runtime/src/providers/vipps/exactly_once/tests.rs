//! Against the Vipps simulator in-process, through the engine: an initiate
//! whose answer was lost after the simulator applied it is not sent again —
//! the payment's details are read and adopted — and a duplicate order id is
//! adopted when it is ours and refused when it is not.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::action::tests::Calls;
use crate::clock::VirtualClock;
use crate::engine::Engine;
use crate::flow::Flow;
use crate::providers::vipps::sim::{Fault, RequestFault, SimConfig, VippsSim};
use crate::store::{IssueRow, IssueState, SqliteOptions, SqliteStore};

struct Env {
    engine: Engine<Calls>,
    clock: VirtualClock,
    sim: VippsSim,
}

async fn env() -> Env {
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let sim = VippsSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        // The credentials of the test flow's `vipps` connection (action/testdata).
        client_id: "vipps-client".into(),
        client_secret: "vipps-secret".into(),
        subscription_key: "vipps-sub-key".into(),
        merchant_serial_number: "123456".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store = SqliteStore::open(SqliteOptions::new(":memory:", Calls::NAME)).unwrap();
    let engine =
        Engine::<Calls>::with_base_url(Arc::new(store), Arc::new(clock.clone()), Some(&sim.url()));
    Env { engine, clock, sim }
}

fn initiate(order: &str, amount: i64) -> Value {
    json!({"order_id": order, "amount": amount, "transaction_text": "Order",
           "callback_prefix": "https://flows.example.no/webhooks/vipps",
           "fallback": "https://shop.example.no/done"})
}

impl Env {
    async fn run(&self, inputs: Value) -> IssueRow {
        let id = self
            .engine
            .start(&json!({"provider": "vipps", "action": "initiate_payment",
                           "connection": "vipps", "inputs": inputs, "batch": false}))
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

    fn count(&self, route: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| format!("{} {}", r.method, r.path) == route)
            .count()
    }
}

#[tokio::test]
async fn an_initiate_whose_answer_was_lost_reads_the_payment_instead_of_initiating_again() {
    let e = env().await;
    // Answered at once: no read.
    let row = e.run(initiate("ORD-0", 1000)).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.count("GET /ecomm/v2/payments/ORD-0/details"), 0);

    e.sim.inject(RequestFault {
        fault: Fault::LoseAnswer,
        count: 1,
        path_prefix: Some("/ecomm/v2/payments".into()),
    });
    let row = e.run(initiate("ORD-1", 1000)).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(row.data["result"]["order_id"], "ORD-1");
    // The landing link was lost with the answer: the fallback page stands in.
    assert_eq!(row.data["result"]["url"], "https://shop.example.no/done");
    // One initiate each (the lost one not repeated), a read instead.
    assert_eq!(e.count("POST /ecomm/v2/payments"), 2);
    assert_eq!(e.count("GET /ecomm/v2/payments/ORD-1/details"), 1);
    assert_eq!(e.sim.payments().len(), 2);
}

#[tokio::test]
async fn a_duplicate_order_id_is_adopted_when_ours_and_refused_when_not() {
    let e = env().await;
    assert_eq!(
        e.run(initiate("ORD-2", 1000)).await.state,
        IssueState::Completed
    );
    // The same request again (a repeat the ledger could not tell): adopted.
    let row = e.run(initiate("ORD-2", 1000)).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(row.data["result"]["order_id"], "ORD-2");
    // The same order id for another amount: Vipps's error, nothing adopted.
    let row = e.run(initiate("ORD-2", 5000)).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(err.contains("Duplicate Order Id"), "{err}");
    assert!(err.contains("is not this issue's"), "{err}");
    assert_eq!(e.sim.payments().len(), 1);
}
