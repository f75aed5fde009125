//! `simulate`'s Vipps: one in-process [`VippsSim`] per `provider: vipps`
//! connection, on the scenario's virtual clock, taking the connection's own
//! credentials (the simulator's when their variables are unset), its callbacks
//! posted to the local listener (the flow's callback prefix names its public
//! host); the scenario's `vipps:` settings, events (the payer approving or
//! rejecting, a refund in the portal, faults, lost callbacks) and
//! expectations on the simulator's state.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::file::{SimSettings, VippsAction, VippsExpect};
use super::sims::SimSet;
use super::stripe::{check_count, default_env, request_fault, resolve_id, webhook_faults};
use crate::clock::Clock;
use crate::flow::ConnectionDef;
use crate::providers::credential;
use crate::providers::vipps::sim::{self, SimConfig, VippsSim};
use crate::store::IssueRow;

/// The flow's Vipps connections.
pub fn vipps_connections(conns: &'static [ConnectionDef]) -> Vec<&'static ConnectionDef> {
    conns.iter().filter(|c| c.provider == "vipps").collect()
}

/// The simulators of a scenario, one per Vipps connection.
pub type VippsSims = SimSet<VippsSim>;

impl SimSet<VippsSim> {
    /// Starts one simulator per connection; callbacks go to `listener`, and
    /// ePayment webhooks too for a connection with a `webhook_secret`.
    pub async fn start(
        conns: &[&'static ConnectionDef],
        clock: Arc<dyn Clock>,
        settings: &SimSettings,
        listener: Option<&str>,
    ) -> Result<VippsSims, String> {
        let mut sims = Vec::new();
        for conn in conns {
            let cred = |name: &str, default: &str| -> Result<String, String> {
                default_env(conn, name, default);
                credential(conn, name)
                    .map(|s| s.expose().to_string())
                    .map_err(|e| format!("connection `{}`: {e}", conn.name))
            };
            let mut config = SimConfig {
                clock: clock.clone(),
                client_id: cred("client_id", sim::CLIENT_ID)?,
                client_secret: cred("client_secret", sim::CLIENT_SECRET)?,
                subscription_key: cred("subscription_key", sim::SUBSCRIPTION_KEY)?,
                merchant_serial_number: cred("merchant_serial_number", sim::MSN)?,
                callback_base: listener.map(str::to_string),
                ..SimConfig::default()
            };
            // A connection with a `webhook_secret` takes ePayment webhooks:
            // registered at the listener's `/webhooks/<connection>`.
            if let Some(base) = listener.filter(|_| super::stripe::takes_webhooks(conn)) {
                config.webhooks.push((
                    format!("{}/webhooks/{}", base.trim_end_matches('/'), conn.name),
                    cred("webhook_secret", sim::WEBHOOK_SECRET)?,
                ));
            }
            for f in &settings.faults {
                config.faults.add(request_fault(f)?);
            }
            if let Some(d) = &settings.drop_webhooks {
                config.faults.webhooks = webhook_faults(d)?;
            }
            let sim = VippsSim::start(config)
                .await
                .map_err(|e| format!("Vipps simulator for `{}`: {e}", conn.name))?;
            sims.push((conn.name, sim));
        }
        let callbacks = listener.is_some() && !sims.is_empty();
        Ok(SimSet::new("Vipps", sims, callbacks))
    }

    /// Makes a scenario's Vipps action happen; a line for the report.
    pub fn act(
        &self,
        a: &VippsAction,
        issue: Option<&IssueRow>,
        names: &HashMap<String, String>,
    ) -> Result<String, String> {
        let sim = self.sim(a.connection.as_deref())?;
        let chosen = [
            a.approve.is_some(),
            a.reject.is_some(),
            a.refund.is_some(),
            a.expire.is_some(),
            a.fault.is_some(),
            a.drop_callbacks.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if chosen != 1 {
            return Err(
                "say one of `approve`, `reject`, `refund`, `expire`, `fault`, `drop_callbacks`"
                    .into(),
            );
        }
        if a.amount.is_some() && a.refund.is_none() {
            return Err("`amount` goes with `refund`".into());
        }
        let details = if let Some(word) = &a.approve {
            let id = resolve_id(word, issue, names)?;
            sim.approve(&id).map_err(|e| format!("approve {id}: {e}"))?
        } else if let Some(word) = &a.reject {
            let id = resolve_id(word, issue, names)?;
            sim.reject(&id).map_err(|e| format!("reject {id}: {e}"))?
        } else if let Some(word) = &a.refund {
            let id = resolve_id(word, issue, names)?;
            sim.refund(&id, a.amount)
                .map_err(|e| format!("refund {id}: {e}"))?
        } else if let Some(word) = &a.expire {
            let id = resolve_id(word, issue, names)?;
            sim.expire(&id).map_err(|e| format!("expire {id}: {e}"))?
        } else if let Some(f) = &a.fault {
            sim.inject(request_fault(f)?);
            return Ok("vipps: fault injected".into());
        } else if let Some(d) = &a.drop_callbacks {
            sim.drop_callbacks(webhook_faults(d)?);
            return Ok("vipps: callbacks dropped".into());
        } else {
            return Err("say what happens at Vipps".into());
        };
        if let Some(reference) = details["reference"].as_str() {
            // An ePayment payment (its `GetPaymentResponse` or a refund's answer).
            let sum = |k: &str| details["aggregate"][k]["value"].clone();
            return Ok(format!(
                "vipps: payment {reference} {} (captured {}, refunded {})",
                details["state"].as_str().unwrap_or_default(),
                sum("capturedAmount"),
                sum("refundedAmount"),
            ));
        }
        let newest = &details["transactionLogHistory"][0];
        Ok(format!(
            "vipps: order {} {}{} (captured {}, refunded {})",
            details["orderId"].as_str().unwrap_or_default(),
            newest["operation"].as_str().unwrap_or_default(),
            if newest["operationSuccess"] == json!(false) {
                " (failed)"
            } else {
                ""
            },
            details["transactionSummary"]["capturedAmount"],
            details["transactionSummary"]["refundedAmount"],
        ))
    }

    /// The failures of an expectation on the simulator's state.
    pub fn check(&self, x: &VippsExpect) -> Result<Vec<String>, String> {
        let sim = self.sim(x.connection.as_deref())?;
        let mut failures = Vec::new();
        if let Some(want) = &x.payments {
            // eCom's newest operation (`CAPTURE`), ePayment's newest event
            // (`CAPTURED`): the two APIs' names never meet.
            let mut payments: Vec<Value> = sim
                .payments()
                .iter()
                .map(|p| json!({"status": p.status()}))
                .collect();
            payments.extend(sim.epayments().iter().map(|p| {
                json!({"status": p.events.last().and_then(|e| e["name"].as_str()).unwrap_or(&p.state)})
            }));
            check_count(
                "vipps",
                "payments",
                "status",
                &payments,
                want,
                &mut failures,
            );
        }
        if let Some(want) = &x.callbacks {
            let deliveries: Vec<Value> = sim
                .deliveries()
                .iter()
                .map(|d| json!({"outcome": d.outcome}))
                .collect();
            check_count(
                "vipps",
                "callbacks",
                "outcome",
                &deliveries,
                want,
                &mut failures,
            );
        }
        if let Some(want) = &x.calls {
            let orders: Vec<String> = sim.payments().into_iter().map(|p| p.order_id).collect();
            let references: Vec<String> =
                sim.epayments().into_iter().map(|p| p.reference).collect();
            let calls: Vec<Value> = sim
                .requests()
                .iter()
                .map(|r| {
                    let path = r
                        .path
                        .split('/')
                        .map(|seg| {
                            if orders.iter().any(|o| o == seg) {
                                "{orderId}"
                            } else if references.iter().any(|x| x == seg) {
                                "{reference}"
                            } else {
                                seg
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("/");
                    json!({"call": format!("{} {path}", r.method)})
                })
                .collect();
            check_count("vipps", "calls", "call", &calls, want, &mut failures);
        }
        Ok(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::SecretSource;
    use crate::providers::vipps::webhook;

    static CONNS: [ConnectionDef; 2] = [
        ConnectionDef {
            name: "vipps_hooks",
            provider: "vipps",
            mode: "test",
            base_url: "",
            credentials: &[
                (
                    "client_id",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_ID"),
                ),
                (
                    "client_secret",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_SECRET"),
                ),
                (
                    "subscription_key",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_SUB"),
                ),
                (
                    "merchant_serial_number",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_MSN"),
                ),
                (
                    "webhook_secret",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_WEBHOOK"),
                ),
            ],
        },
        ConnectionDef {
            name: "vipps_plain",
            provider: "vipps",
            mode: "test",
            base_url: "",
            credentials: &[
                (
                    "client_id",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_ID"),
                ),
                (
                    "client_secret",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_SECRET"),
                ),
                (
                    "subscription_key",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_SUB"),
                ),
                (
                    "merchant_serial_number",
                    SecretSource::Env("FLOWC_SCENARIO_TEST_VIPPS_MSN"),
                ),
            ],
        },
    ];

    /// A connection with a `webhook_secret` gets the ePayment events at
    /// `<listener>/webhooks/<connection>`, signed with that secret (its
    /// simulated value when the variable is unset); one without gets none.
    #[tokio::test]
    async fn a_connection_with_a_webhook_secret_gets_signed_epayment_webhooks() {
        type Got = Vec<(String, axum::http::HeaderMap, Vec<u8>)>;
        let got: Arc<std::sync::Mutex<Got>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    g.lock()
                        .unwrap()
                        .push((uri.path().to_string(), headers, body.to_vec()));
                    "ok"
                }
            },
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        let conns: Vec<&'static ConnectionDef> = CONNS.iter().collect();
        let sims = VippsSims::start(
            &conns,
            Arc::new(crate::clock::SystemClock),
            &SimSettings::default(),
            Some(&listener),
        )
        .await
        .unwrap();
        for name in ["vipps_hooks", "vipps_plain"] {
            let sim = sims.sim(Some(name)).unwrap();
            let reference = format!("pay-{}", name.replace('_', "-"));
            let http = reqwest::Client::new();
            let token = sim.access_token().await.unwrap();
            let r = http
                .post(format!("{}/epayment/v1/payments", sim.url()))
                .bearer_auth(&token)
                .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
                .header("Idempotency-Key", name)
                .json(&json!({"amount": {"value": 1000, "currency": "NOK"},
                    "paymentMethod": {"type": "WALLET"}, "reference": reference,
                    "userFlow": "PUSH_MESSAGE", "customer": {"phoneNumber": "4791234567"}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            sim.approve(&reference).unwrap();
            assert!(sim.settle(std::time::Duration::from_secs(5)).await);
        }
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "CREATED and AUTHORIZED, only for vipps_hooks");
        for (path, headers, body) in &got {
            assert_eq!(path, "/webhooks/vipps_hooks");
            let header = |k: &str| {
                headers
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            webhook::verify(
                &header,
                path,
                body,
                sim::WEBHOOK_SECRET,
                jiff::Timestamp::now(),
            )
            .unwrap();
        }
    }

    /// `expire` lets an unanswered ePayment payment expire; `payments` counts
    /// ePayment payments by their newest event beside eCom's, and `calls`
    /// shows a reference as `{reference}` (also at the end of a path).
    #[tokio::test]
    async fn an_epayment_payment_expires_and_is_counted_with_its_calls() {
        let conns: Vec<&'static ConnectionDef> = vec![&CONNS[1]];
        let sims = VippsSims::start(
            &conns,
            Arc::new(crate::clock::SystemClock),
            &SimSettings::default(),
            None,
        )
        .await
        .unwrap();
        let sim = sims.sim(None).unwrap();
        let http = reqwest::Client::new();
        let token = sim.access_token().await.unwrap();
        for (reference, key) in [("pay-exp-0001", "k1"), ("pay-auth-0001", "k2")] {
            let r = http
                .post(format!("{}/epayment/v1/payments", sim.url()))
                .bearer_auth(&token)
                .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
                .header("Idempotency-Key", key)
                .json(&json!({"amount": {"value": 1000, "currency": "NOK"},
                    "paymentMethod": {"type": "WALLET"}, "reference": reference,
                    "userFlow": "WEB_REDIRECT"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
        let r = http
            .get(format!("{}/epayment/v1/payments/pay-exp-0001", sim.url()))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let issue_names = HashMap::new();
        let line = sims
            .act(
                &VippsAction {
                    expire: Some("pay-exp-0001".into()),
                    ..VippsAction::default()
                },
                None,
                &issue_names,
            )
            .unwrap();
        assert_eq!(
            line,
            "vipps: payment pay-exp-0001 EXPIRED (captured 0, refunded 0)"
        );
        sims.act(
            &VippsAction {
                approve: Some("pay-auth-0001".into()),
                ..VippsAction::default()
            },
            None,
            &issue_names,
        )
        .unwrap();
        // Expiring it again, or an authorized payment, is an error of the scenario.
        for r in ["pay-exp-0001", "pay-auth-0001"] {
            let again = VippsAction {
                expire: Some(r.into()),
                ..VippsAction::default()
            };
            assert!(sims.act(&again, None, &issue_names).is_err(), "{r}");
        }
        let both = VippsAction {
            expire: Some("pay-exp-0001".into()),
            reject: Some("pay-exp-0001".into()),
            ..VippsAction::default()
        };
        assert!(
            sims.act(&both, None, &issue_names)
                .unwrap_err()
                .contains("`expire`")
        );
        let count = |pairs: &[(&str, usize)]| {
            Some(crate::scenario::file::Count::Per(
                pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            ))
        };
        let good = VippsExpect {
            payments: count(&[("EXPIRED", 1), ("AUTHORIZED", 1)]),
            calls: count(&[
                ("POST /epayment/v1/payments", 2),
                ("GET /epayment/v1/payments/{reference}", 1),
            ]),
            ..VippsExpect::default()
        };
        assert_eq!(sims.check(&good).unwrap(), Vec::<String>::new());
        let bad = VippsExpect {
            payments: count(&[("CREATED", 1)]),
            ..VippsExpect::default()
        };
        assert_eq!(sims.check(&bad).unwrap().len(), 1);
    }
}
