//! Stable diagnostic codes. A code never changes meaning; retired codes are
//! not reused. `flowc explain CODE` prints `explain/CODE.md`.

use serde::Serialize;

macro_rules! codes {
    ($($variant:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// `E0101`, `W0001`, …
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A one-line title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            pub fn severity(self) -> super::Severity {
                match self { $(Code::$variant => super::Severity::$sev,)* }
            }

            /// The long explanation with an example, for `flowc explain`.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$variant => include_str!(concat!("explain/", $code, ".md")),)* }
            }

            pub fn parse(s: &str) -> Option<Code> {
                let s = s.trim().to_ascii_uppercase();
                Code::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

codes! {
    // 00xx: reading the file
    FileEmpty = "E0001", Error, "empty flow file";
    FileNotText = "E0002", Error, "flow file is not UTF-8 text";
    YamlSyntax = "E0003", Error, "YAML syntax error";
    DslSyntax = "E0004", Error, "DSL syntax error";
    ExprSyntax = "E0005", Error, "expression syntax error";
    // 001x: structure of the YAML document
    UnknownKey = "E0010", Error, "unknown key";
    MissingKey = "E0011", Error, "missing key";
    WrongShape = "E0012", Error, "value has the wrong shape";
    InvalidLiteral = "E0013", Error, "invalid literal";
    // 01xx: names
    UnknownReference = "E0101", Error, "unknown data item or step";
    UnknownStep = "E0102", Error, "unknown step";
    DuplicateId = "E0103", Error, "duplicate id";
    UnknownType = "E0104", Error, "unknown type";
    UnknownFunction = "E0105", Error, "unknown function";
    UnknownConnection = "E0106", Error, "unknown connection";
    UnknownProvider = "E0107", Error, "unknown provider";
    UnknownAction = "E0108", Error, "unknown provider action";
    UnknownEvent = "E0109", Error, "unknown provider event";
    UnknownField = "E0110", Error, "unknown field of a value";
    AmbiguousConnection = "E0111", Error, "connection must be named";
    // 02xx: types
    TypeMismatch = "E0201", Error, "type mismatch";
    MinorUnitsExpected = "E0202", Error, "integer minor units expected";
    SelectOption = "E0203", Error, "value is not an option of the select";
    CurrencyMismatch = "E0204", Error, "currency mismatch";
    LoopOverNonTable = "E0205", Error, "for_each over a value that is not a table";
    WrongArity = "E0206", Error, "wrong number of arguments";
    InvalidOperands = "E0207", Error, "operator not defined for these types";
    ProviderIdMismatch = "E0208", Error, "provider id of another kind";
    ConstraintViolation = "E0209", Error, "value breaks a constraint";
    InvalidConstraint = "E0210", Error, "constraint does not fit the type";
    MalformedLiteral = "E0211", Error, "literal is not a valid value of its type";
    // 03xx: action inputs
    MissingInput = "E0301", Error, "missing required input";
    UnknownInput = "E0302", Error, "unknown input field";
    EnumValue = "E0303", Error, "value not allowed by the provider";
    NotABatchAction = "E0304", Error, "action used in the wrong kind of step";
    // 04xx: control flow
    WaitWithoutTimeout = "E0401", Error, "wait without timeout";
    WaitWithoutOnTimeout = "E0402", Error, "wait without on_timeout";
    UnreachableStep = "E0403", Error, "unreachable step";
    InvalidJumpTarget = "E0404", Error, "jump into a nested block";
    EmptySteps = "E0405", Error, "flow has no steps";
    PollNotServed = "E0406", Error, "event cannot be polled";
    // 05xx: connections and secrets
    LiteralSecret = "E0501", Error, "literal secret in a flow file";
    LiveWithoutMode = "E0502", Error, "live connection without an explicit live mode";
    UnknownMode = "E0503", Error, "unknown connection mode";
    MissingCredential = "E0504", Error, "missing credential";
    UnknownCredential = "E0505", Error, "unknown credential";
    InvalidStart = "E0506", Error, "invalid start";
    TriggerLeavesDataEmpty = "E0507", Error, "start event leaves a required data item empty";
    InvalidSchedule = "E0508", Error, "invalid schedule option";
    ScheduleLeavesDataEmpty = "E0509", Error, "schedule leaves a required data item empty";
    SettingWithoutEffect = "E0510", Error, "connection setting without effect";
    UnknownFileColumn = "E0511", Error, "unknown request-file column";
    ComputedLiteral = "E0512", Error, "computed value where the binary needs one as written";
    UnsupportedBatchSchedule = "E0513", Error, "batch schedule the runtime cannot keep";
    UnsupportedInput = "E0514", Error, "provider input the runtime cannot send yet";
    PaymentTypeNotCollected = "E0520", Error, "payment type the connection does not collect";
    // warnings
    ShortPollInterval = "W0001", Warning, "poll interval under 15 seconds";
    UnusedDataItem = "W0002", Warning, "data item is never used";
}
