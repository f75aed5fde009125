//! A hand-written flow started by a schedule (`every: 1d`, or the policy and
//! tick given by `SCHEDULES`): each issue ends at once, with its data item
//! `kind` at its default. Shared by the schedule tests (`src/schedule/tests.rs`).

#![allow(dead_code)]

use std::time::Duration;

use flowc_runtime::prelude::*;
use flowc_runtime::schedule::{CatchUp, ScheduleDef, TickDef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Begin,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Begin];
    fn id(self) -> &'static str {
        "begin"
    }
}

static ITEMS: [ItemDef; 1] = [ItemDef::new("kind", ValueType::String).default_json("\"daily\"")];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

pub const DAY: Duration = Duration::from_secs(86_400);

static DAILY: [ScheduleDef; 1] = [ScheduleDef {
    tick: TickDef::Every(DAY),
    catch_up: CatchUp::Last,
}];

/// `start: { schedule: { every: 1d } }`; each issue completes at once.
#[derive(Debug)]
pub struct Daily;

impl Flow for Daily {
    const NAME: &'static str = "scheduled_test";
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn schedules() -> &'static [ScheduleDef] {
        &DAILY
    }
    fn first_step() -> Step {
        Step::Begin
    }
    fn run_step<'a>(
        _step: Step,
        _data: &'a mut Data,
        _cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move { Ok(Transition::End(Outcome::Completed)) })
    }
}
