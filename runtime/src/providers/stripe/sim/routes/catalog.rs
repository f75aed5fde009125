//! `/v1/products` and `/v1/prices`: create and retrieve.

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::Ctx;

pub fn create_product(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "name",
        "description",
        "active",
        "statement_descriptor",
        "unit_label",
        "url",
        "metadata",
        "id",
    ])?;
    let name = p.required_str("name")?;
    let id = match p.str("id")? {
        Some(id) => {
            if cx.store.get("product", &id).is_some() {
                return Err(ApiError::invalid(format!("Product already exists: {id}"))
                    .code("resource_already_exists")
                    .param("id"));
            }
            id
        }
        None => cx.store.new_id("prod_"),
    };
    let now = cx.store.now();
    let product = json!({
        "id": id,
        "object": "product",
        "active": p.bool("active")?.unwrap_or(true),
        "attributes": [],
        "created": now,
        "default_price": null,
        "description": p.str("description")?,
        "features": [],
        "images": [],
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "name": name,
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": p.str("statement_descriptor")?,
        "tax_code": null,
        "type": "service",
        "unit_label": p.str("unit_label")?,
        "updated": now,
        "url": p.str("url")?,
    });
    let product = cx.store.insert("product", product);
    cx.store.emit("product.created", &product, cx.key);
    Ok(product)
}

pub fn create_price(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "currency",
        "product",
        "unit_amount",
        "nickname",
        "lookup_key",
        "recurring",
        "tax_behavior",
        "active",
        "metadata",
    ])?;
    let currency = p
        .currency("currency")?
        .ok_or_else(|| ApiError::missing("currency"))?;
    let product = p.required_str("product")?;
    cx.store.require("product", &product, "product")?;
    let unit_amount = p
        .amount("unit_amount")?
        .ok_or_else(|| ApiError::missing("unit_amount"))?;
    let recurring = match p.0.get("recurring") {
        None => Value::Null,
        Some(Value::Object(r)) => {
            let interval = r
                .get("interval")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !["day", "week", "month", "year"].contains(&interval) {
                return Err(ApiError::invalid(format!(
                    "Invalid recurring[interval]: must be one of day, month, week, or year (got `{interval}`)."
                ))
                .param("recurring[interval]"));
            }
            let count = match r.get("interval_count").and_then(Value::as_str) {
                None => 1,
                Some(c) => c.parse::<i64>().ok().filter(|c| *c >= 1).ok_or_else(|| {
                    ApiError::invalid(format!("Invalid integer: {c}"))
                        .param("recurring[interval_count]")
                })?,
            };
            json!({
                "aggregate_usage": null,
                "interval": interval,
                "interval_count": count,
                "trial_period_days": null,
                "usage_type": "licensed"
            })
        }
        Some(_) => {
            return Err(ApiError::invalid("Invalid recurring: must be a hash.").param("recurring"));
        }
    };
    let tax_behavior = p
        .str("tax_behavior")?
        .unwrap_or_else(|| "unspecified".into());
    if !["exclusive", "inclusive", "unspecified"].contains(&tax_behavior.as_str()) {
        return Err(
            ApiError::invalid(format!("Invalid tax_behavior: {tax_behavior}"))
                .param("tax_behavior"),
        );
    }
    let id = cx.store.new_id("price_");
    let price = json!({
        "id": id,
        "object": "price",
        "active": p.bool("active")?.unwrap_or(true),
        "billing_scheme": "per_unit",
        "created": cx.store.now(),
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": p.str("lookup_key")?,
        "metadata": p.metadata()?.unwrap_or_default(),
        "nickname": p.str("nickname")?,
        "product": product,
        "recurring": recurring,
        "tax_behavior": tax_behavior,
        "tiers_mode": null,
        "transform_quantity": null,
        "type": if recurring.is_null() { "one_time" } else { "recurring" },
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
    });
    let price = cx.store.insert("price", price);
    cx.store.emit("price.created", &price, cx.key);
    Ok(price)
}
