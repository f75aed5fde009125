//! `flowc sim stripe --listen ADDR [--webhook URL]...`, `flowc sim paypal
//! --listen ADDR [--webhook URL]...`, `flowc sim vipps --listen ADDR` and `flowc sim buckaroo
//! --outbox DIR --inbox DIR [--layout COLUMNS] [--listen ADDR] [--push URL]`: the runtime's provider simulators
//! standalone. Each prints its URL and the environment to point a built
//! flow at it, then serves until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;

use clap::Subcommand;
use flowc_runtime::providers::paypal::sim as paypal_sim;
use flowc_runtime::providers::stripe::sim::{SimConfig, StripeSim, WebhookTarget};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    provider: Provider,
}

#[derive(Debug, Subcommand)]
enum Provider {
    /// Stripe, API version 2023-08-16: customers, products, prices, charges,
    /// payment intents, invoices, refunds, events and signed webhooks.
    Stripe(StripeArgs),
    /// PayPal: OAuth2 tokens, Invoicing v2 (create, send, remind, cancel, get,
    /// search, payments), webhooks with transmission signatures, their verify
    /// endpoint and the webhook-events list.
    #[command(name = "paypal")]
    PayPal(PayPalArgs),
    /// Vipps eCom v2: access tokens (all four headers checked), initiate,
    /// capture, refund, cancel, details with the transaction log, the payer
    /// approving or rejecting (`/_sim/payments/ORDER/approve|reject`) and the
    /// callback sent once with the payment's authToken.
    Vipps(VippsArgs),
    /// Buckaroo: answers the direct debit request files that appear in an
    /// outbox (read in the connection's `file_layout`, `--layout`) with
    /// response files in an inbox, after a delay, with outcomes per invoice
    /// number or IBAN; and serves the JSON gateway (PayPerEmail,
    /// transaction status) with signed pushes.
    Buckaroo(Box<BuckarooArgs>),
}

#[derive(Debug, clap::Args)]
struct BuckarooArgs {
    /// The flow connection's outbox (`FLOWC_<CONNECTION>_OUTBOX`), where its
    /// request files are.
    #[arg(long, value_name = "DIR")]
    outbox: std::path::PathBuf,
    /// The columns of the request files' records, comma-separated: the flow
    /// connection's `file_layout` setting (default: the catalog's). The
    /// simulator reads `invoice_number`, `amount` and `iban`; a file that does
    /// not fit the layout is refused, not answered.
    #[arg(long, value_name = "COLUMNS", default_value_t = flowc_runtime::providers::buckaroo::sim::default_layout())]
    layout: String,
    /// The flow connection's inbox (`FLOWC_<CONNECTION>_INBOX`), where the
    /// response files go.
    #[arg(long, value_name = "DIR")]
    inbox: std::path::PathBuf,
    /// From a request file's creation to its response file.
    #[arg(long, default_value = "1m")]
    delay: String,
    /// From a response file to the reversal of its `reversed` debits.
    #[arg(long, default_value = "2m")]
    reverse_after: String,
    /// KEY=OUTCOME (repeatable): the outcome for an invoice number or IBAN:
    /// debited, insufficient_funds, account_invalid, mandate_refused,
    /// reversed, no_response, malformed.
    #[arg(long = "outcome", value_name = "KEY=OUTCOME")]
    outcomes: Vec<String>,
    /// Where the JSON gateway listens (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:12113")]
    listen: SocketAddr,
    /// The website key requests must carry (the connection's `website_key`).
    #[arg(long, default_value = flowc_runtime::providers::buckaroo::gateway_sim::WEBSITE_KEY)]
    website_key: String,
    /// The secret key requests are signed with and pushes are signed with.
    #[arg(long, default_value = "flowc-sim-secret_key")]
    secret_key: String,
    /// Post every push here (default: each transaction's `PushURL`).
    #[arg(long, value_name = "URL")]
    push: Option<String>,
    /// INVOICE=OUTCOME (repeatable): what the payer does with a PayPerEmail
    /// invitation: paid_by_ideal, expires (the default).
    #[arg(long = "invitation", value_name = "INVOICE=OUTCOME")]
    invitations: Vec<String>,
    /// From an invitation to its payment.
    #[arg(long, default_value = "1m")]
    pay_after: String,
    /// The flow's connection name, for the `FLOWC_<CONNECTION>_BASE_URL` line.
    #[arg(long, default_value = "buckaroo")]
    connection: String,
}

#[derive(Debug, clap::Args)]
struct PayPalArgs {
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:12112")]
    listen: SocketAddr,
    /// Deliver every event to this URL (repeatable), as the webhook `--webhook-id`.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// The id of the webhook (the flow connection's `webhook_id` credential).
    #[arg(long, value_name = "ID", default_value = paypal_sim::WEBHOOK_ID)]
    webhook_id: String,
    /// The REST app's client id the token endpoint takes.
    #[arg(long, value_name = "ID", default_value = paypal_sim::CLIENT_ID)]
    client_id: String,
    /// The REST app's secret the token endpoint takes.
    #[arg(long, value_name = "SECRET", default_value = paypal_sim::CLIENT_SECRET)]
    client_secret: String,
    /// The flow's connection name, for the `FLOWC_<CONNECTION>_BASE_URL` line.
    #[arg(long, default_value = "paypal")]
    connection: String,
}

#[derive(Debug, clap::Args)]
struct VippsArgs {
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:12113")]
    listen: SocketAddr,
    /// The flow's connection name, for the `FLOWC_<CONNECTION>_BASE_URL` line.
    #[arg(long, default_value = "vipps")]
    connection: String,
}

#[derive(Debug, clap::Args)]
struct StripeArgs {
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:12111")]
    listen: SocketAddr,
    /// Deliver every event to this URL (repeatable), signed with `--webhook-secret`.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// The `whsec_…` secret to sign webhook deliveries with (random if not given).
    #[arg(long, value_name = "SECRET")]
    webhook_secret: Option<String>,
    /// The flow's connection name, for the `FLOWC_<CONNECTION>_BASE_URL` line.
    #[arg(long, default_value = "stripe")]
    connection: String,
}

pub fn run(args: &Args) -> Exit {
    match &args.provider {
        Provider::Stripe(a) => stripe(a),
        Provider::PayPal(a) => paypal(a),
        Provider::Buckaroo(a) => buckaroo(a),
        Provider::Vipps(a) => vipps(a),
    }
}

fn vipps(a: &VippsArgs) -> Exit {
    use flowc_runtime::providers::vipps::sim as vipps_sim;
    let Some(runtime) = async_runtime() else {
        return Exit::Usage;
    };
    let config = vipps_sim::SimConfig {
        listen: a.listen,
        ..vipps_sim::SimConfig::default()
    };
    runtime.block_on(async {
        let sim = match vipps_sim::VippsSim::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let url = sim.url();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Vipps simulator (eCom v2, ePayment v1) listening on {url}");
        let _ = writeln!(out, "Point a built flow at it:");
        let _ = writeln!(out, "  export {}={url}", flowc_runtime::flow::base_url_env(&a.connection));
        let _ = writeln!(
            out,
            "  (client id {}, client secret {}, subscription key {}, MSN {})",
            vipps_sim::CLIENT_ID,
            vipps_sim::CLIENT_SECRET,
            vipps_sim::SUBSCRIPTION_KEY,
            vipps_sim::MSN
        );
        let _ = writeln!(out, "Control endpoints under {url}/_sim/ (payments, requests, payments/ORDER/approve, payments/ORDER/reject, faults, callbacks/drop). Ctrl-C stops.");
        let _ = out.flush();
        drop(out);
        let _ = tokio::signal::ctrl_c().await;
        Exit::Clean
    })
}

fn buckaroo(a: &BuckarooArgs) -> Exit {
    use flowc_runtime::providers::buckaroo::gateway_sim::{GatewayConfig, GatewaySim, Payer};
    use flowc_runtime::providers::buckaroo::sim::{FileConfig, FileSim, Outcome};
    use flowc_runtime::value::parse_duration;
    let mut config = FileConfig {
        layout: a.layout.clone(),
        ..FileConfig::default()
    };
    let mut gateway = GatewayConfig {
        listen: a.listen,
        website_key: a.website_key.clone(),
        secret_key: a.secret_key.clone(),
        push_url: a.push.clone(),
        ..GatewayConfig::default()
    };
    let parsed = (|| -> Result<(), String> {
        gateway.pay_after =
            parse_duration(&a.pay_after).map_err(|e| format!("--pay-after: {e}"))?;
        for o in &a.invitations {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("--invitation `{o}`: say INVOICE=OUTCOME"))?;
            gateway.payers.insert(k.to_string(), Payer::parse(v)?);
        }
        config.delay = parse_duration(&a.delay).map_err(|e| format!("--delay: {e}"))?;
        config.reverse_after =
            parse_duration(&a.reverse_after).map_err(|e| format!("--reverse-after: {e}"))?;
        for o in &a.outcomes {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("--outcome `{o}`: say KEY=OUTCOME"))?;
            config.outcomes.insert(k.to_string(), Outcome::parse(v)?);
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let Some(runtime) = async_runtime() else {
        return Exit::Usage;
    };
    let mut sim = match FileSim::new(a.outbox.clone(), a.inbox.clone(), config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --layout: {e}");
            return Exit::Usage;
        }
    };
    println!(
        "Buckaroo file simulator: request files from {} answered into {} after {}.",
        a.outbox.display(),
        a.inbox.display(),
        a.delay
    );
    runtime.block_on(async {
        let gateway = match GatewaySim::start(gateway).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let url = gateway.url();
        println!("Buckaroo JSON gateway (PayPerEmail, transaction status) listening on {url}");
        println!("Point a built flow at it:");
        println!(
            "  export {}={url}",
            flowc_runtime::flow::base_url_env(&a.connection)
        );
        println!(
            "  (its website key must be {}, its secret key the --secret-key given)",
            a.website_key
        );
        match &a.push {
            Some(p) => println!("Pushes to {p}, signed with the secret key."),
            None => println!("Pushes to each transaction's PushURL, signed with the secret key."),
        }
        println!("Ctrl-C stops.");
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        loop {
            let now = flowc_runtime::prelude::Timestamp::now();
            gateway.step(now).iter().for_each(|l| println!("{l}"));
            match sim.step(now) {
                Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                Err(e) => eprintln!("error: {e}"),
            }
            tokio::select! {
                _ = &mut stop => return Exit::Clean,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    })
}

fn async_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

fn paypal(a: &PayPalArgs) -> Exit {
    let Some(runtime) = async_runtime() else {
        return Exit::Usage;
    };
    let config = paypal_sim::SimConfig {
        listen: a.listen,
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
        webhooks: a
            .webhooks
            .iter()
            .map(|url| paypal_sim::WebhookTarget {
                url: url.clone(),
                id: a.webhook_id.clone(),
            })
            .collect(),
        ..paypal_sim::SimConfig::default()
    };
    runtime.block_on(async {
        let sim = match paypal_sim::PayPalSim::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let url = sim.url();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "PayPal simulator (Invoicing v2, webhooks v1) listening on {url}");
        let _ = writeln!(out, "Point a built flow at it:");
        let _ = writeln!(out, "  export {}={url}", flowc_runtime::flow::base_url_env(&a.connection));
        let _ = writeln!(out, "  (its client id must be {}, its secret the --client-secret given, default {})", a.client_id, paypal_sim::CLIENT_SECRET);
        for w in &a.webhooks {
            let _ = writeln!(out, "Webhooks to {w}, as webhook id {}", a.webhook_id);
        }
        let _ = writeln!(out, "Control endpoints under {url}/_sim/ (state, invoices, events, requests, deliveries, faults, invoices/ID/pay, reset). Ctrl-C stops.");
        let _ = out.flush();
        drop(out);
        let _ = tokio::signal::ctrl_c().await;
        Exit::Clean
    })
}

fn stripe(a: &StripeArgs) -> Exit {
    let Some(runtime) = async_runtime() else {
        return Exit::Usage;
    };
    let mut secret = a.webhook_secret.clone();
    if let Some(s) = &secret
        && !s.starts_with("whsec_")
    {
        eprintln!("error: a webhook secret starts with `whsec_`");
        return Exit::Usage;
    }
    if !a.webhooks.is_empty() && secret.is_none() {
        // One secret for all the given URLs, so one env var configures the flow.
        secret = Some(format!("whsec_sim{:016x}", rand_seed()));
    }
    let config = SimConfig {
        listen: a.listen,
        webhooks: a
            .webhooks
            .iter()
            .map(|url| WebhookTarget {
                url: url.clone(),
                events: vec!["*".into()],
                secret: secret.clone(),
            })
            .collect(),
        ..SimConfig::default()
    };
    runtime.block_on(async {
        let sim = match StripeSim::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let url = sim.url();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Stripe simulator (API 2023-08-16) listening on {url}");
        let _ = writeln!(out, "Point a built flow at it:");
        let _ = writeln!(out, "  export {}={url}", flowc_runtime::flow::base_url_env(&a.connection));
        let _ = writeln!(out, "  (its secret key must be a test key: sk_test_… or rk_test_…)");
        for (w, s) in a.webhooks.iter().zip(sim.webhook_secrets()) {
            let _ = writeln!(out, "Webhooks to {w}, signed with {s}");
        }
        let _ = writeln!(out, "Control endpoints under {url}/_sim/ (state, requests, deliveries, faults, reset). Ctrl-C stops.");
        let _ = out.flush();
        drop(out);
        let _ = tokio::signal::ctrl_c().await;
        Exit::Clean
    })
}

/// A little entropy for a default secret (time and process id; not for real secrets).
fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}
