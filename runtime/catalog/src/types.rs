//! The typed shape of a provider's catalog file.

use serde::{Deserialize, Serialize};

/// One payment provider: its connection settings, actions, events and id kinds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Short name used in flows: `stripe`, `paypal`, `vipps`, `buckaroo`.
    pub name: String,
    pub title: String,
    /// Connection modes the provider knows, e.g. `[test, live]` or `[sandbox, live]`.
    /// `live` always means real money.
    pub modes: Vec<String>,
    /// Credentials a connection must supply (always from env or a secret file).
    pub credentials: Vec<Credential>,
    /// How the runtime authenticates with those credentials.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Default base URL per mode (a connection may override it, e.g. to
    /// face a simulator).
    #[serde(default)]
    pub base_urls: Vec<ModeUrl>,
    /// Non-secret connection settings (e.g. Buckaroo's culture or VAT rate).
    #[serde(default)]
    pub settings: Vec<Field>,
    /// Kinds of provider ids, e.g. `customer` with prefix `cus_`.
    #[serde(default)]
    pub ids: Vec<IdKind>,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// A credential a connection supplies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub name: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub description: String,
    /// Accepted prefixes per mode, e.g. Stripe's `sk_test_` for `test`.
    /// Used by the runtime to refuse a live key on a test connection.
    #[serde(default)]
    pub prefixes: Vec<ModePrefix>,
}

/// How a provider authenticates requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `bearer` (a credential sent as a bearer token),
    /// `oauth2_client_credentials`, `access_token` (a provider-specific token
    /// call) or `hmac` (every request signed).
    pub scheme: String,
    #[serde(default)]
    pub description: String,
    /// The token endpoint, for token-based schemes.
    #[serde(default)]
    pub api: Option<Api>,
}

/// A base URL for one connection mode.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModeUrl {
    pub mode: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModePrefix {
    pub mode: String,
    pub prefixes: Vec<String>,
}

/// A kind of provider id, e.g. a Stripe customer (`cus_…`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdKind {
    pub name: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// One action a flow step can call, e.g. `stripe.create_charge`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The spec operation this action maps to.
    pub api: Api,
    /// Whether calling the action changes something at the provider (and so
    /// needs an idempotency key). Reads are not side effects.
    #[serde(default = "yes")]
    pub side_effect: bool,
    /// A batch action gathers many issues into one request or file.
    #[serde(default)]
    pub batch: bool,
    pub inputs: Vec<Field>,
    #[serde(default)]
    pub outputs: Vec<Field>,
    /// The payment type (Buckaroo service name) the action uses, which a
    /// connection's `payment_types` setting must include; `input:NAME` when an
    /// input names it.
    #[serde(default)]
    pub service: Option<String>,
    /// For a batch action that writes request files: the columns of a record
    /// that the runtime derives from the connection's settings (a VAT rate, a
    /// due date, …), which the `file_layout` setting may name beside the inputs.
    #[serde(default)]
    pub file_columns: Vec<Field>,
}

/// Where an action or event lives in the provider's API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// HTTP method, upper case; `FILE` for file hand-overs (Buckaroo batches).
    pub method: String,
    /// Path template, e.g. `/v1/customers/{customer}`.
    pub path: String,
    /// Spec file under `shared/specs/` this operation comes from, if any.
    #[serde(default)]
    pub spec: Option<String>,
}

/// An input or output field of an action or event, or a provider setting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
    /// Allowed values, for enum-like strings (e.g. Stripe's `collection_method`).
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    /// A regular expression the value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Minimum length in characters (e.g. Vipps' `paymentDescription`, 3).
    #[serde(default)]
    pub min_length: Option<u32>,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    /// For amounts: whether the API takes integer minor units or a decimal string.
    #[serde(default)]
    pub unit: Option<Unit>,
    /// For `money` fields: the ISO 4217 codes the provider accepts (e.g.
    /// Vipps ePayment's `NOK`, `DKK`, `EUR`). Empty means any currency.
    /// (`currency` fields list theirs in `enum`.)
    #[serde(default)]
    pub currencies: Vec<String>,
    /// Default used when the flow gives no value.
    #[serde(default)]
    pub default: Option<String>,
    /// Where the value goes in the API request (e.g. `detail.invoice_number`,
    /// `metadata[...]`), or comes from in the response.
    #[serde(default)]
    pub api: Option<String>,
    /// Columns, for `table` fields (lists of objects such as invoice lines).
    #[serde(default)]
    pub columns: Vec<Field>,
    /// For an action input: the connection setting whose value the input takes
    /// when the flow gives none (Buckaroo's `currency`).
    #[serde(default)]
    pub default_setting: Option<String>,
    /// For a setting whose only effect is on request-file records: the record
    /// columns it fills. A flow whose `file_layout` names none of them would
    /// set it for nothing, and the checker says so.
    #[serde(default)]
    pub fills: Vec<String>,
    /// For an action input the provider refuses unless flowc sends something
    /// it cannot send yet: why. The checker refuses the input (E0514).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// How a provider wants an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Integer in the currency's smallest unit: 1.00 EUR -> 100, 100 JPY -> 100.
    MinorUnits,
    /// A decimal string in major units: "1.00".
    DecimalString,
}

/// The type of a catalog field. Written in the data files as a string:
/// `string`, `text`, `integer`, `decimal`, `money`, `bool`, `date`,
/// `datetime`, `email`, `phone`, `url`, `currency`, `country`, `map`,
/// `table`, `json`, or `id(provider.kind)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum FieldType {
    String,
    Text,
    Integer,
    Decimal,
    Money,
    Bool,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    /// ISO 4217 currency code.
    Currency,
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// String keys to string values (Stripe `metadata`).
    Map,
    /// A list of rows with the field's `columns`.
    Table,
    /// Any JSON value (raw provider objects).
    Json,
    /// A typed provider id.
    Id {
        provider: String,
        kind: String,
    },
}

impl From<FieldType> for String {
    fn from(ty: FieldType) -> String {
        ty.to_string()
    }
}

impl std::fmt::Display for FieldType {
    /// The type as the data files write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            FieldType::String => "string",
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Money => "money",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Currency => "currency",
            FieldType::Country => "country",
            FieldType::Map => "map",
            FieldType::Table => "table",
            FieldType::Json => "json",
            FieldType::Id { provider, kind } => return write!(f, "id({provider}.{kind})"),
        };
        f.write_str(name)
    }
}

impl TryFrom<String> for FieldType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "string" => FieldType::String,
            "text" => FieldType::Text,
            "integer" => FieldType::Integer,
            "decimal" => FieldType::Decimal,
            "money" => FieldType::Money,
            "bool" => FieldType::Bool,
            "date" => FieldType::Date,
            "datetime" => FieldType::Datetime,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "currency" => FieldType::Currency,
            "country" => FieldType::Country,
            "map" => FieldType::Map,
            "table" => FieldType::Table,
            "json" => FieldType::Json,
            other => {
                let inner = other
                    .strip_prefix("id(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown field type `{other}`"))?;
                let (provider, kind) = inner
                    .split_once('.')
                    .ok_or_else(|| format!("id type `{other}` needs `id(provider.kind)`"))?;
                FieldType::Id {
                    provider: provider.to_owned(),
                    kind: kind.to_owned(),
                }
            }
        })
    }
}

/// An event a flow can wait for or start from, e.g. `stripe.invoice.paid`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Dotted name as the provider spells it, e.g. `invoice.paid`.
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The id kind of the object the event is about; a `wait` matches it
    /// against its `for` expression.
    #[serde(default)]
    pub object: Option<String>,
    /// Delivered by webhook (or callback).
    #[serde(default)]
    pub webhook: bool,
    /// Can be found by polling (the fallback when no webhook arrives).
    #[serde(default)]
    pub poll: bool,
    /// Can start issues (a trigger), e.g. Stripe's new charge.
    #[serde(default)]
    pub trigger: bool,
    /// Resolved by a file that comes back (Buckaroo response files).
    #[serde(default)]
    pub file: bool,
    /// The API the poll fallback reads.
    #[serde(default)]
    pub api: Option<Api>,
    #[serde(default)]
    pub outputs: Vec<Field>,
}

fn yes() -> bool {
    true
}

impl Provider {
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }
    pub fn id_kind(&self, name: &str) -> Option<&IdKind> {
        self.ids.iter().find(|k| k.name == name)
    }
}

impl Action {
    pub fn input(&self, name: &str) -> Option<&Field> {
        self.inputs.iter().find(|f| f.name == name)
    }
    pub fn output(&self, name: &str) -> Option<&Field> {
        self.outputs.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_types_parse_from_their_names() {
        assert_eq!(
            FieldType::try_from("money".to_owned()),
            Ok(FieldType::Money)
        );
        assert_eq!(
            FieldType::try_from("id(stripe.customer)".to_owned()),
            Ok(FieldType::Id {
                provider: "stripe".to_owned(),
                kind: "customer".to_owned(),
            })
        );
        assert!(FieldType::try_from("id(stripe)".to_owned()).is_err());
        assert!(FieldType::try_from("float".to_owned()).is_err());
    }

    #[test]
    fn units_are_snake_case() {
        let unit: Unit = serde_saphyr::from_str("decimal_string").unwrap();
        assert_eq!(unit, Unit::DecimalString);
        let unit: Unit = serde_saphyr::from_str("minor_units").unwrap();
        assert_eq!(unit, Unit::MinorUnits);
    }
}
