//! The Stripe client against the recording server: a declined card as a result,
//! rate limits retried after `Retry-After`, invalid requests failing with their
//! parameter, list pages followed, and live connections refused without `--live`.

use super::*;

fn declined() -> Reply {
    Reply::json(
        402,
        json!({"error": {"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "charge": "ch_declined",
            "message": "Your card has insufficient funds."}}),
    )
}

#[tokio::test]
async fn a_declined_card_is_a_failed_charge_not_a_failed_issue() {
    let e = env().await;
    e.server.script("POST /v1/charges", [declined()]);
    let id = e
        .start(
            "stripe",
            "create_charge",
            "stripe",
            json!({"amount": 1500, "currency": "jpy", "customer": "cus_1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let r = result(&row);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["id"], "ch_declined");
    assert_eq!(r["paid"], false);
    assert_eq!(r["failure_code"], "card_declined");
    assert_eq!(r["failure_message"], "Your card has insufficient funds.");
    assert_eq!(r["decline_code"], "insufficient_funds");
    assert_eq!(e.server.count(), 1, "a decline is not retried");
    // The ledger has the call as done: a repeat of the step sends the same key
    // and is answered from Stripe's idempotency store, never a second charge.
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].attempts, ledger[0].status.as_str()), (1, "done"));
    assert_eq!(ledger[0].response.as_ref().unwrap()["status"], 402);
}

#[tokio::test]
async fn declined_payment_intents_and_invoice_payments_are_results_too() {
    let e = env().await;
    e.server.script(
        "POST /v1/payment_intents",
        [Reply::json(
            402,
            json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.", "charge": "ch_2",
                "payment_intent": {"id": "pi_1", "status": "requires_payment_method", "amount": 900,
                    "currency": "eur", "last_payment_error": {"code": "card_declined",
                    "decline_code": "generic_decline", "message": "Your card was declined."}}}}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "create_payment_intent",
            "stripe",
            json!({"amount": 900, "currency": "eur", "customer": "cus_1",
                   "payment_method": "pm_1", "confirm": true, "off_session": true}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let r = result(&row);
    assert_eq!(r["id"], "pi_1");
    assert_eq!(r["status"], "requires_payment_method");
    assert_eq!(r["latest_charge"], "ch_2");
    assert_eq!(r["decline_code"], "generic_decline");
    assert_eq!(r["error_message"], "Your card was declined.");

    e.server.script("POST /v1/invoices/in_1/pay", [declined()]);
    let id = e
        .start(
            "stripe",
            "pay_invoice",
            "stripe",
            json!({"invoice": "in_1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let r = result(&row);
    assert_eq!(
        (&r["id"], &r["status"], &r["paid"], &r["charge"]),
        (
            &json!("in_1"),
            &json!("open"),
            &json!(false),
            &json!("ch_declined")
        )
    );
    assert_eq!(r["failure_code"], "card_declined");
    assert_eq!(r["decline_code"], "insufficient_funds");

    // A card declined where no charge is made (a customer's new card) fails the step.
    e.server.script("POST /v1/customers", [declined()]);
    let id = e
        .start(
            "stripe",
            "create_customer",
            "stripe",
            json!({"email": "a@example.com", "source": "tok_chargeDeclined"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("HTTP 402: Your card has insufficient funds. [insufficient_funds]"),
        "{err}"
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_retry_after() {
    let e = env().await;
    e.server.script(
        "POST /v1/refunds",
        [
            Reply::json(
                429,
                json!({"error": {"type": "invalid_request_error", "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly."}}),
            )
            .header("Retry-After", "7"),
            Reply::json(200, json!({"id": "re_1", "status": "succeeded"})),
        ],
    );
    let id = e
        .start(
            "stripe",
            "create_refund",
            "stripe",
            json!({"charge": "ch_1"}),
        )
        .await;
    let before = e.clock.now();
    e.engine.run_due(8).await.unwrap();
    let row = e.issue(&id).await;
    assert_eq!(row.state, IssueState::Running);
    let history = e.engine.store().history(&id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.detail.contains("HTTP 429: rate limited")),
        "{history:?}"
    );
    assert_eq!(
        row.wake_at.unwrap().duration_since(before),
        jiff::SignedDuration::from_secs(7),
        "Retry-After wins over the backoff"
    );
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let seen = e.seen("POST /v1/refunds");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].idempotency_key(), seen[1].idempotency_key());
}

#[tokio::test]
async fn a_lock_timeout_is_retried_and_auth_errors_hint_at_the_key() {
    let e = env().await;
    e.server.script(
        "POST /v1/invoices/in_1/finalize",
        [
            Reply::json(
                409,
                json!({"error": {"type": "invalid_request_error", "code": "lock_timeout",
                    "message": "This object cannot be accessed right now."}}),
            ),
            Reply::json(200, json!({"id": "in_1", "status": "open"})),
        ],
    );
    let id = e
        .start(
            "stripe",
            "finalize_invoice",
            "stripe",
            json!({"invoice": "in_1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(e.seen("POST /v1/invoices/in_1/finalize").len(), 2);

    e.server.script(
        "GET /v1/invoices/in_2",
        [Reply::json(
            401,
            json!({"error": {"type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****************************ests"}}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "retrieve_invoice",
            "stripe",
            json!({"invoice": "in_2"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("HTTP 401: Stripe refused the API key"),
        "{err}"
    );
    assert!(err.contains("`secret_key`"), "{err}");
    assert!(!err.contains("ests"), "no part of the key: {err}");
    assert_eq!(e.seen("GET /v1/invoices/in_2").len(), 1);
}

#[tokio::test]
async fn an_invalid_request_fails_the_issue_naming_the_param() {
    let e = env().await;
    e.server.script(
        "POST /v1/invoiceitems",
        [Reply::json(
            400,
            json!({"error": {"type": "invalid_request_error", "code": "parameter_invalid_integer",
                "message": "Invalid integer: abc", "param": "amount"}}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "create_invoice_item",
            "stripe",
            json!({"customer": "cus_1", "amount": 100, "currency": "eur"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("HTTP 400: Invalid integer: abc (param: amount) [parameter_invalid_integer]"),
        "{err}"
    );
    assert_eq!(e.server.count(), 1);
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!(ledger[0].status, "failed");
}

#[tokio::test]
async fn lists_follow_has_more_up_to_the_limit() {
    let e = env().await;
    let refund = |i: usize| json!({"id": format!("re_{i}"), "status": "succeeded", "amount": 100, "currency": "eur", "charge": "ch_1", "created": 1_740_000_000});
    let page = |r: std::ops::Range<usize>, more: bool| {
        Reply::json(
            200,
            json!({"object": "list", "has_more": more, "data": r.map(refund).collect::<Vec<_>>()}),
        )
    };
    e.server.script(
        "GET /v1/refunds",
        [
            page(0..100, true),
            page(100..200, true),
            page(200..230, true),
        ],
    );
    let id = e
        .start(
            "stripe",
            "list_refunds",
            "stripe",
            json!({"charge": "ch_1", "limit": 230}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let r = result(&row);
    let rows = r["refunds"].as_array().unwrap();
    assert_eq!(rows.len(), 230);
    assert_eq!(rows[229]["id"], "re_229");
    assert_eq!(rows[0]["currency"], "EUR");
    assert_eq!(r["has_more"], true);
    let queries: Vec<String> = e
        .seen("GET /v1/refunds")
        .into_iter()
        .map(|s| s.query.unwrap_or_default())
        .collect();
    assert_eq!(
        queries,
        [
            "charge=ch_1&limit=100",
            "charge=ch_1&limit=100&starting_after=re_99",
            "charge=ch_1&limit=30&starting_after=re_199"
        ]
    );

    // The last page says there is no more: no further request.
    e.server.script(
        "GET /v1/customers",
        [Reply::json(
            200,
            json!({"has_more": false, "data": [{"id": "cus_1", "email": "a@example.com"}, {"id": "cus_2", "email": "a@example.com"}]}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "find_customer",
            "stripe",
            json!({"email": "a@example.com", "limit": 500}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(result(&row)["customers"].as_array().unwrap().len(), 2);
    assert_eq!(result(&row)["id"], "cus_1");
    assert_eq!(e.seen("GET /v1/customers").len(), 1);
}

#[tokio::test]
async fn a_live_connection_is_refused_without_live() {
    // No simulator here: the engine faces the real base URLs, and must refuse
    // before anything is sent (the key is not even read).
    let store = SqliteStore::open(SqliteOptions::new(":memory:", Calls::NAME)).unwrap();
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let engine = Engine::<Calls>::new(Arc::new(store), Arc::new(clock));
    let id = engine
        .start(&json!({"provider": "stripe", "action": "retrieve_invoice",
            "connection": "stripe_live", "inputs": {"invoice": "in_1"}, "batch": false}))
        .await
        .unwrap();
    engine.run_due(8).await.unwrap();
    let row = engine.store().load(&id).await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("connection `stripe_live` is a live connection")
            && err.contains("--live")
            && err.contains("nothing was sent"),
        "{err}"
    );
    assert!(engine.store().ledger(&id).await.unwrap().is_empty());
}
