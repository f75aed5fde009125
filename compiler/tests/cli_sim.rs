//! `flowc sim stripe`, `flowc sim paypal` and `flowc sim vipps`: start on a free port, prints its URL and the env var,
//! answers Stripe calls and control calls, refuses non-loopback addresses.

mod cli_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use cli_support::{bin, flowc};

/// One HTTP/1.1 request over a plain socket; returns (status, body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Kills the simulator when the test ends, passing or not.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sim_stripe_serves_on_a_free_port() {
    let mut child = Child(
        Command::new(bin())
            .args([
                "sim",
                "stripe",
                "--listen",
                "127.0.0.1:0",
                "--connection",
                "billing-stripe",
            ])
            .args([
                "--webhook",
                "http://127.0.0.1:9/hook",
                "--webhook-secret",
                "whsec_cli",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref().take(6) {
        printed.push(line.unwrap());
    }
    let text = printed.join("\n");
    assert!(
        !printed.is_empty(),
        "flowc sim printed nothing (a stale flowc binary?)"
    );
    let url = printed[0].rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("export FLOWC_BILLING_STRIPE_BASE_URL={url}")),
        "{text}"
    );
    assert!(text.contains("signed with whsec_cli"), "{text}");
    let addr = url.trim_start_matches("http://");
    let body = "email=cli%40example.com&source=tok_visa";
    let (status, answer) = http(
        addr,
        &format!(
            "POST /v1/customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer sk_test_cli\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"object\":\"customer\""), "{answer}");
    let (status, answer) = http(
        addr,
        &format!("GET /v1/customers HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 401, "{answer}");
    let (status, state) = http(
        addr,
        &format!("GET /_sim/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert!(state.contains("\"customer\":1"), "{state}");
}

#[test]
fn sim_stripe_refuses_other_than_loopback() {
    flowc(&["sim", "stripe", "--listen", "0.0.0.0:0"]).expect(2);
    flowc(&[
        "sim",
        "stripe",
        "--listen",
        "127.0.0.1:0",
        "--webhook-secret",
        "nope",
    ])
    .expect(2);
}

#[test]
fn sim_paypal_serves_tokens_and_invoices_on_a_free_port() {
    let mut child = Child(
        Command::new(bin())
            .args(["sim", "paypal", "--listen", "127.0.0.1:0"])
            .args([
                "--webhook",
                "http://127.0.0.1:9/hook",
                "--webhook-id",
                "WH-CLI",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let printed: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
    let text = printed.join("\n");
    let url = printed[0].rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("export FLOWC_PAYPAL_BASE_URL={url}")),
        "{text}"
    );
    assert!(text.contains("as webhook id WH-CLI"), "{text}");
    let addr = url.trim_start_matches("http://");
    // flowc-sim-client-id:flowc-sim-client-secret
    let basic = "Zmxvd2Mtc2ltLWNsaWVudC1pZDpmbG93Yy1zaW0tY2xpZW50LXNlY3JldA==";
    let form = "grant_type=client_credentials";
    let (status, answer) = http(
        addr,
        &format!(
            "POST /v1/oauth2/token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(status, 200, "{answer}");
    let token: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let token = token["access_token"].as_str().unwrap();
    let body = r#"{"detail":{"currency_code":"JPY","invoice_number":"D-0001"}}"#;
    let (status, answer) = http(
        addr,
        &format!(
            "POST /v2/invoicing/invoices HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = http(
        addr,
        &format!(
            "GET /v2/invoicing/invoices HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 401, "{answer}");
    let (status, state) = http(
        addr,
        &format!("GET /_sim/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert!(state.contains("\"DRAFT\":1"), "{state}");
    flowc(&["sim", "paypal", "--listen", "0.0.0.0:0"]).expect(2);
}

#[test]
fn sim_vipps_serves_tokens_only_for_the_four_headers() {
    let mut child = Child(
        Command::new(bin())
            .args(["sim", "vipps", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let printed: Vec<String> = lines.by_ref().take(4).map(Result::unwrap).collect();
    let text = printed.join("\n");
    let url = printed[0].rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("export FLOWC_VIPPS_BASE_URL={url}")),
        "{text}"
    );
    let addr = url.trim_start_matches("http://");
    let token = |secret: &str| {
        http(
            addr,
            &format!(
                "POST /accesstoken/get HTTP/1.1\r\nHost: {addr}\r\nclient_id: flowc-sim-vipps-client-id\r\n\
                 client_secret: {secret}\r\nOcp-Apim-Subscription-Key: flowc-sim-vipps-subscription-key\r\n\
                 Merchant-Serial-Number: 123456\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    let (status, answer) = token("flowc-sim-vipps-client-secret");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("access_token"), "{answer}");
    assert_eq!(token("wrong").0, 401);
    flowc(&["sim", "vipps", "--listen", "0.0.0.0:0"]).expect(2);
}
