//! Stripe's endpoints, one module per resource; [`dispatch`] routes a request.

pub mod catalog;
pub mod charges;
pub mod customers;
pub mod events;
pub mod invoices;
pub mod payment_intents;
pub mod refunds;

use serde_json::Value;

use super::error::ApiError;
use super::store::{Params, Store};

/// A request being answered: the store (locked), its parameters, its idempotency key.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub params: Params,
    pub key: Option<&'a str>,
}

/// Answers one Stripe API call (`path` without the query string).
pub fn dispatch(cx: &mut Ctx, method: &str, path: &str) -> Result<Value, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segs.as_slice()) {
        ("POST", ["v1", "customers"]) => customers::create(cx),
        ("GET", ["v1", "customers"]) => customers::list(cx),
        ("GET", ["v1", "customers", id]) => customers::retrieve(cx, id),
        ("POST", ["v1", "customers", id]) => customers::update(cx, id),
        ("POST", ["v1", "products"]) => catalog::create_product(cx),
        ("GET", ["v1", "products", id]) => cx.store.require("product", id, "id"),
        ("POST", ["v1", "prices"]) => catalog::create_price(cx),
        ("GET", ["v1", "prices", id]) => cx.store.require("price", id, "price"),
        ("POST", ["v1", "charges"]) => charges::create(cx),
        ("GET", ["v1", "charges"]) => charges::list(cx),
        ("GET", ["v1", "charges", id]) => charges::retrieve(cx, id),
        ("POST", ["v1", "payment_intents"]) => payment_intents::create(cx),
        ("GET", ["v1", "payment_intents", id]) => payment_intents::retrieve(cx, id),
        ("POST", ["v1", "invoiceitems"]) => invoices::create_item(cx),
        ("GET", ["v1", "invoiceitems", id]) => cx.store.require("invoiceitem", id, "invoiceitem"),
        ("POST", ["v1", "invoices"]) => invoices::create(cx),
        ("GET", ["v1", "invoices", id]) => invoices::retrieve(cx, id),
        ("POST", ["v1", "invoices", id, "finalize"]) => invoices::finalize(cx, id),
        ("POST", ["v1", "invoices", id, "send"]) => invoices::send(cx, id),
        ("POST", ["v1", "invoices", id, "pay"]) => invoices::pay(cx, id),
        ("POST", ["v1", "invoices", id, "void"]) => invoices::void(cx, id),
        ("POST", ["v1", "refunds"]) => refunds::create(cx),
        ("GET", ["v1", "refunds"]) => refunds::list(cx),
        ("GET", ["v1", "refunds", id]) => refunds::retrieve(cx, id),
        ("GET", ["v1", "events"]) => events::list(cx),
        ("GET", ["v1", "events", id]) => events::retrieve(cx, id),
        ("POST", ["v1", "webhook_endpoints"]) => events::create_endpoint(cx),
        ("GET", ["v1", "webhook_endpoints"]) => events::list_endpoints(cx),
        ("GET", ["v1", "webhook_endpoints", id]) => events::retrieve_endpoint(cx, id),
        ("DELETE", ["v1", "webhook_endpoints", id]) => events::delete_endpoint(cx, id),
        _ => Err(ApiError::unknown_route(method, path)),
    }
}
