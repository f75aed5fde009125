//! A hand-written flow as flowc's generated code will look: three `http` steps
//! (create an invoice, send it, confirm the payment) against the connection `api`
//! (base URL from `FLOWC_API_BASE_URL`). Shared by the example binary, the CLI and
//! crash tests and the benchmarks.

use flowc_runtime::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    pub order: i64,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub invoice_id: Option<String>,
    #[serde(default)]
    pub sent_id: Option<String>,
    #[serde(default)]
    pub payment_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    CreateInvoice,
    SendInvoice,
    ConfirmPayment,
    Done,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[
        Step::CreateInvoice,
        Step::SendInvoice,
        Step::ConfirmPayment,
        Step::Done,
    ];
    fn id(self) -> &'static str {
        match self {
            Step::CreateInvoice => "create_invoice",
            Step::SendInvoice => "send_invoice",
            Step::ConfirmPayment => "confirm_payment",
            Step::Done => "done",
        }
    }
}

static ITEMS: [ItemDef; 5] = [
    ItemDef::new("order", ValueType::Integer)
        .required()
        .min("1"),
    ItemDef::new("customer_email", ValueType::Email),
    ItemDef::new("invoice_id", ValueType::String),
    ItemDef::new("sent_id", ValueType::String),
    ItemDef::new("payment_id", ValueType::String),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);
static ID: [ItemDef; 1] = [ItemDef::new("id", ValueType::String).required()];
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "api",
    provider: "http",
    mode: "test",
    base_url: "http://127.0.0.1:9",
    credentials: &[],
}];

#[derive(Debug)]
pub struct ThreeHttp;

impl Flow for ThreeHttp {
    const NAME: &'static str = "three_http";
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn connections() -> &'static [ConnectionDef] {
        &CONNECTIONS
    }
    fn first_step() -> Step {
        Step::CreateInvoice
    }
    fn run_step<'a>(
        step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            match step {
                Step::CreateInvoice => {
                    let r = cx
                        .http(
                            HttpRequest::to_connection("api", Method::Post, "/invoices")
                                .json(json!({"order": data.order}))
                                .response(&ID),
                        )
                        .await?;
                    data.invoice_id = Some(r.get("id")?);
                    Ok(Transition::Next(Step::SendInvoice))
                }
                Step::SendInvoice => {
                    let invoice = data.invoice_id.clone().unwrap_or_default();
                    let r = cx
                        .http(
                            HttpRequest::to_connection(
                                "api",
                                Method::Post,
                                format!("/invoices/{invoice}/send"),
                            )
                            .json(json!({"order": data.order}))
                            .response(&ID),
                        )
                        .await?;
                    data.sent_id = Some(r.get("id")?);
                    Ok(Transition::Next(Step::ConfirmPayment))
                }
                Step::ConfirmPayment => {
                    let r = cx
                        .http(
                            HttpRequest::to_connection("api", Method::Post, "/payments")
                                .json(json!({"order": data.order, "invoice": data.invoice_id}))
                                .response(&ID),
                        )
                        .await?;
                    data.payment_id = Some(r.get("id")?);
                    Ok(Transition::Next(Step::Done))
                }
                Step::Done => Ok(Transition::End(Outcome::Completed)),
            }
        })
    }
}
