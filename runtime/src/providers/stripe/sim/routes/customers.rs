//! `/v1/customers`: create, retrieve, update, list (with the `email` filter);
//! `source: tok_…` attaches a test card as the default source (`expandable`).

use serde_json::{Value, json};

use super::super::cards;
use super::super::error::ApiError;
use super::super::store::{Params, Store, merge_metadata, page};
use super::Ctx;

const WRITABLE: &[&str] = &[
    "email",
    "name",
    "description",
    "phone",
    "source",
    "payment_method",
    "invoice_prefix",
    "tax_exempt",
    "metadata",
    "default_source",
    "invoice_settings",
];

/// `expand[]=default_source` (or `data.default_source` in lists) puts the card in place of its id.
pub fn render(store: &Store, mut customer: Value, expand: &[String], prefix: &str) -> Value {
    let wanted = expand
        .iter()
        .any(|e| e == &format!("{prefix}default_source"));
    if wanted
        && let Some(id) = customer["default_source"].as_str()
        && let Some(card) = store.get("card", id)
    {
        customer["default_source"] = card.clone();
    }
    customer
}

fn check_tax_exempt(p: &Params) -> Result<Option<String>, ApiError> {
    match p.str("tax_exempt")? {
        Some(t) if !["none", "exempt", "reverse"].contains(&t.as_str()) => Err(ApiError::invalid(
            format!("Invalid tax_exempt: must be one of none, exempt, or reverse (got {t})."),
        )
        .param("tax_exempt")),
        other => Ok(other),
    }
}

/// Attaches a test card (`tok_…`) to a customer; Stripe checks the card on attach.
fn attach(cx: &mut Ctx, customer: &str, token: &str) -> Result<String, ApiError> {
    let card = cards::lookup(token).ok_or_else(|| cards::unknown(token, "source"))?;
    if card.declines_on_attach {
        let d = card.decline.unwrap_or(cards::Decline {
            code: "generic_decline",
            message: "Your card was declined.",
        });
        return Err(ApiError::card_declined(d.code, d.message, None).param("source"));
    }
    let id = cx.store.new_id("card_");
    let object = card.source_object(&id, Some(customer));
    cx.store.cards.insert(id.clone(), card);
    cx.store.insert("card", object.clone());
    cx.store.emit("customer.source.created", &object, cx.key);
    Ok(id)
}

pub fn create(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(WRITABLE)?;
    let tax_exempt = check_tax_exempt(&p)?.unwrap_or_else(|| "none".into());
    if let Some(pm) = p.str("payment_method")? {
        cards::lookup(&pm).ok_or_else(|| cards::unknown(&pm, "payment_method"))?;
    }
    let id = cx.store.new_id("cus_");
    // Check the card before anything is stored: a declined card leaves no customer.
    let token = p.str("source")?;
    if let Some(t) = &token {
        let card = cards::lookup(t).ok_or_else(|| cards::unknown(t, "source"))?;
        if card.declines_on_attach {
            attach(cx, &id, t)?;
        }
    }
    let n = cx.store.count("customer") + 1;
    let prefix = match p.str("invoice_prefix")? {
        Some(x) => x,
        None => format!("SIM{n:05X}"),
    };
    let customer = json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": cx.store.now(),
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": p.str("description")?,
        "discount": null,
        "email": p.str("email")?,
        "invoice_prefix": prefix,
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "name": p.str("name")?,
        "next_invoice_sequence": 1,
        "phone": p.str("phone")?,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": tax_exempt,
        "test_clock": null,
    });
    cx.store.insert("customer", customer);
    if let Some(t) = token {
        let card = attach(cx, &id, &t)?;
        cx.store.update(&id, |c| c["default_source"] = json!(card));
    }
    let customer = cx.store.require("customer", &id, "id")?;
    cx.store.emit("customer.created", &customer, cx.key);
    Ok(render(cx.store, customer, &p.expand(), ""))
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    let c = cx.store.require("customer", id, "id")?;
    Ok(render(cx.store, c, &cx.params.expand(), ""))
}

pub fn update(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(WRITABLE)?;
    let before = cx.store.require("customer", id, "customer")?;
    let tax_exempt = check_tax_exempt(&p)?;
    let mut default_source = None;
    if let Some(t) = p.str("source")? {
        default_source = Some(attach(cx, id, &t)?);
    }
    if let Some(s) = p.str("default_source")? {
        let mine = cx
            .store
            .get("card", &s)
            .is_some_and(|c| c["customer"] == json!(id));
        if !mine {
            return Err(ApiError::no_such("source", &s, "default_source"));
        }
        default_source = Some(s);
    }
    let default_pm = match p.0.get("invoice_settings") {
        None => None,
        Some(Value::Object(m)) => match m.get("default_payment_method") {
            Some(Value::String(pm)) => {
                if !pm.is_empty()
                    && cards::lookup(pm).is_none()
                    && cx.store.get("card", pm).is_none()
                {
                    return Err(cards::unknown(
                        pm,
                        "invoice_settings[default_payment_method]",
                    ));
                }
                Some(pm.clone())
            }
            _ => None,
        },
        Some(_) => {
            return Err(
                ApiError::invalid("Invalid invoice_settings: must be a hash.")
                    .param("invoice_settings"),
            );
        }
    };
    let metadata = p.metadata()?;
    let fields: Vec<(&str, Option<String>)> = vec![
        ("email", p.str("email")?),
        ("name", p.str("name")?),
        ("description", p.str("description")?),
        ("phone", p.str("phone")?),
        ("tax_exempt", tax_exempt),
        ("invoice_prefix", p.str("invoice_prefix")?),
    ];
    let after = cx.store.update(id, |c| {
        for (k, v) in fields {
            if let Some(v) = v {
                // An empty string unsets, as with Stripe.
                c[k] = if v.is_empty() { Value::Null } else { json!(v) };
            }
        }
        if let Some(s) = default_source {
            c["default_source"] = json!(s);
        }
        if let Some(pm) = default_pm {
            c["invoice_settings"]["default_payment_method"] = if pm.is_empty() {
                Value::Null
            } else {
                json!(pm)
            };
        }
        if let Some(m) = metadata {
            merge_metadata(c, m);
        }
    });
    if after != before {
        cx.store.emit("customer.updated", &after, cx.key);
    }
    Ok(render(cx.store, after, &p.expand(), ""))
}

pub fn list(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "email",
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "test_clock",
    ])?;
    let email = p.str("email")?;
    let all = cx.store.all("customer");
    let keep = |c: &Value| {
        email
            .as_deref()
            .is_none_or(|e| c["email"].as_str() == Some(e))
    };
    let mut list = page(&all, keep, &p, "/v1/customers")?;
    let expand = p.expand();
    if let Some(items) = list["data"].as_array_mut() {
        for c in items.iter_mut() {
            *c = render(cx.store, c.take(), &expand, "data.");
        }
    }
    Ok(list)
}
