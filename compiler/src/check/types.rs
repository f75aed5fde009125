//! The static types of the flow language: data items, expressions, step
//! results and provider fields all have one. [`assignable`] says where a value
//! of one type may go; [`Type::Error`] (a name that did not resolve) fits
//! everywhere, so one mistake gives one diagnostic.

use std::fmt;
use std::sync::Arc;

/// The type of a value. Spanless, so it can live in the IR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    String,
    Text,
    Integer,
    /// An exact decimal, never a float.
    Decimal,
    /// An amount with a currency; `Some` when fixed to one ISO 4217 code.
    Money(Option<String>),
    Bool,
    Date,
    Datetime,
    /// `30s`, `7d`; also what `date - date` gives.
    Duration,
    Email,
    Phone,
    Url,
    /// A string with fixed options (hierarchical by id prefix).
    Select(Arc<[SelectOption]>),
    /// Rows with typed columns.
    Table(Arc<[Column]>),
    /// One row of a table (a `for_each` variable).
    Row(Arc<[Column]>),
    /// One column of a table (`lines.amount`): what `sum` adds up.
    List(Box<Type>),
    /// A typed provider id: `id(stripe.customer)`.
    Id {
        provider: String,
        kind: String,
    },
    /// An ISO 4217 code (provider fields).
    Currency,
    /// An ISO 3166-1 alpha-2 code (provider fields).
    Country,
    /// String keys to string values (provider fields such as `metadata`).
    Map,
    /// Any JSON value (raw provider objects).
    Json,
    /// The `null` literal: fits any type (clears a value).
    Null,
    /// A value whose type could not be found because of an error already
    /// reported; fits everywhere, so it causes no further diagnostics.
    Error,
}

/// One option of a select: `"81": Japan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectOption {
    pub id: String,
    pub label: String,
}

/// One column of a table type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
    pub required: bool,
}

/// Why a value does not fit where it is put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// Different kinds of value.
    Type,
    /// Two fixed currencies that differ.
    Currency { expected: String, found: String },
    /// Provider ids of different kinds.
    IdKind,
}

impl Type {
    /// Text-like types: anything that is a string at run time.
    pub fn is_stringish(&self) -> bool {
        matches!(
            self,
            Type::String
                | Type::Text
                | Type::Email
                | Type::Phone
                | Type::Url
                | Type::Select(_)
                | Type::Id { .. }
                | Type::Currency
                | Type::Country
        )
    }

    /// `integer` or `decimal`.
    pub fn is_number(&self) -> bool {
        matches!(self, Type::Integer | Type::Decimal)
    }

    pub fn is_money(&self) -> bool {
        matches!(self, Type::Money(_))
    }

    /// `Error` or `Json`: a type the checker cannot say anything about.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Error | Type::Json)
    }

    /// The select options, if this is a select.
    pub fn select_options(&self) -> Option<&[SelectOption]> {
        match self {
            Type::Select(options) => Some(options),
            _ => None,
        }
    }

    /// The columns of a table or a row.
    pub fn columns(&self) -> Option<&[Column]> {
        match self {
            Type::Table(columns) | Type::Row(columns) => Some(columns),
            _ => None,
        }
    }

    /// Whether the type can be written into a string template.
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Type::Table(_) | Type::Row(_) | Type::List(_) | Type::Map
        )
    }
}

/// Whether a value of type `found` may be put where `expected` is wanted.
///
/// Strings widen to the text-like types (their literals are validated where
/// they are used), integers widen to decimals, `money` without a currency
/// fits any currency, and `Error`, `Json` and `Null` fit everywhere.
pub fn assignable(expected: &Type, found: &Type) -> Result<(), Mismatch> {
    use Type as T;
    if expected.is_unknown() || found.is_unknown() || *found == T::Null || expected == found {
        return Ok(());
    }
    let fits = match (expected, found) {
        (T::String | T::Text, f) => f.is_stringish(),
        (
            T::Email | T::Phone | T::Url | T::Currency | T::Country | T::Select(_),
            T::String | T::Text,
        ) => true,
        (T::Select(a), T::Select(b)) => a == b,
        (T::Id { .. }, T::String | T::Text) => true,
        (T::Id { .. }, T::Id { .. }) => return Err(Mismatch::IdKind),
        (T::Decimal, T::Integer) => true,
        (T::Money(e), T::Money(f)) => match (e, f) {
            (Some(e), Some(f)) if !e.eq_ignore_ascii_case(f) => {
                return Err(Mismatch::Currency {
                    expected: e.clone(),
                    found: f.clone(),
                });
            }
            _ => true,
        },
        (T::Table(e), T::Table(f)) | (T::Row(e), T::Row(f)) => columns_fit(e, f),
        (T::Map, T::Row(_)) => true,
        (T::List(e), T::List(f)) => assignable(e, f).is_ok(),
        _ => false,
    };
    if fits { Ok(()) } else { Err(Mismatch::Type) }
}

/// Every required expected column is there, and every shared column fits.
fn columns_fit(expected: &[Column], found: &[Column]) -> bool {
    expected
        .iter()
        .all(|e| match found.iter().find(|f| f.name == e.name) {
            Some(f) => assignable(&e.ty, &f.ty).is_ok(),
            None => !e.required,
        })
}

/// Whether two values can be compared with `==` / `!=`.
pub fn comparable(a: &Type, b: &Type) -> Result<(), Mismatch> {
    match assignable(a, b) {
        Ok(()) => Ok(()),
        Err(Mismatch::Type) => assignable(b, a),
        Err(other) => Err(other),
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Text => f.write_str("text"),
            Type::Integer => f.write_str("integer"),
            Type::Decimal => f.write_str("decimal"),
            Type::Money(None) => f.write_str("money"),
            Type::Money(Some(c)) => write!(f, "money({c})"),
            Type::Bool => f.write_str("bool"),
            Type::Date => f.write_str("date"),
            Type::Datetime => f.write_str("datetime"),
            Type::Duration => f.write_str("duration"),
            Type::Email => f.write_str("email"),
            Type::Phone => f.write_str("phone"),
            Type::Url => f.write_str("url"),
            Type::Select(_) => f.write_str("select"),
            Type::Table(_) => f.write_str("table"),
            Type::Row(_) => f.write_str("table row"),
            Type::List(t) => write!(f, "column of {t}"),
            Type::Id { provider, kind } => write!(f, "id({provider}.{kind})"),
            Type::Currency => f.write_str("currency"),
            Type::Country => f.write_str("country"),
            Type::Map => f.write_str("map"),
            Type::Json => f.write_str("json"),
            Type::Null => f.write_str("null"),
            Type::Error => f.write_str("unknown"),
        }
    }
}

/// The type names a data item can be declared with (for "did you mean").
pub const TYPE_NAMES: &[&str] = &[
    "string", "text", "integer", "decimal", "money", "bool", "date", "datetime", "email", "phone",
    "url", "select", "table", "id",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_and_mismatches() {
        assert!(assignable(&Type::Decimal, &Type::Integer).is_ok());
        assert!(assignable(&Type::Integer, &Type::Decimal).is_err());
        assert!(assignable(&Type::String, &Type::Email).is_ok());
        assert!(assignable(&Type::Email, &Type::String).is_ok());
        assert!(assignable(&Type::Bool, &Type::Error).is_ok());
        assert!(assignable(&Type::Date, &Type::Null).is_ok());
        assert_eq!(
            assignable(
                &Type::Money(Some("EUR".into())),
                &Type::Money(Some("JPY".into()))
            ),
            Err(Mismatch::Currency {
                expected: "EUR".into(),
                found: "JPY".into()
            })
        );
        assert!(assignable(&Type::Money(None), &Type::Money(Some("JPY".into()))).is_ok());
        let customer = Type::Id {
            provider: "stripe".into(),
            kind: "customer".into(),
        };
        let invoice = Type::Id {
            provider: "paypal".into(),
            kind: "invoice".into(),
        };
        assert_eq!(assignable(&invoice, &customer), Err(Mismatch::IdKind));
        assert!(assignable(&Type::String, &customer).is_ok());
    }

    #[test]
    fn display() {
        assert_eq!(Type::Money(Some("JPY".into())).to_string(), "money(JPY)");
        assert_eq!(
            Type::List(Box::new(Type::Integer)).to_string(),
            "column of integer"
        );
    }
}
