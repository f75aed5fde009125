//! The flow behind a generated binary, with its types erased, so that the
//! engine, the CLI, the simulator wiring and the event feed are compiled once,
//! in this crate, instead of once per flow.
//!
//! A generated `main` calls [`crate::cli::main_typed::<MyFlow>()`]: it registers
//! `MyFlow` as a `&'static dyn` [`DynFlow`] (through the small adapter
//! [`Typed`], the only generic code left in the flow's crate) and runs the
//! CLI for [`Erased`], a `Flow` whose data is JSON and whose steps are indices
//! into the registered flow's step list. `cli::main::<Erased>` is an ordinary
//! instantiation inside this crate, so `flowc build` of a flow compiles the
//! flow's own code and links the rest (issue 3's warm-build target).
//!
//! The cost is one JSON round trip of the data per step (the typed struct is
//! read from the issue's JSON, the step runs, the struct is written back); the
//! engine already serialises the data for every commit.

use std::marker::PhantomData;
use std::sync::OnceLock;

use serde_json::Value;

use crate::clock::BoxFuture;
use crate::engine::StepContext;
use crate::flow::{ConnectionDef, FeedDef, Flow, StepError, StepId, Transition, TriggerDef, Wait};
use crate::retry::RetryPolicy;
use crate::schedule::ScheduleDef;
use crate::value::DataSchema;

/// A flow as a trait object: what the engine needs of it, without its types.
#[doc(hidden)]
pub trait DynFlow: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Every step id, in the order of the flow's step enum.
    fn steps(&self) -> Vec<&'static str>;
    fn first_step(&self) -> &'static str;
    fn schema(&self) -> &'static DataSchema;
    fn connections(&self) -> &'static [ConnectionDef];
    fn connection_settings(&self) -> &'static [(&'static str, &'static str, &'static str)];
    fn signal_schema(&self, name: &str) -> Option<&'static DataSchema>;
    fn triggers(&self) -> &'static [TriggerDef];
    fn schedules(&self) -> &'static [ScheduleDef];
    fn event_feeds(&self) -> &'static [FeedDef];
    fn batch_steps(&self) -> &'static [(&'static str, &'static str, &'static str)];
    fn default_retry(&self) -> RetryPolicy;
    /// Runs the step with this id on the issue's data (JSON of the flow's `Data`).
    fn run_step<'a>(
        &'a self,
        step: &'static str,
        data: &'a mut Value,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<&'static str>, StepError>>;
}

/// A typed flow seen as a [`DynFlow`].
#[doc(hidden)]
pub struct Typed<F>(PhantomData<fn() -> F>);

impl<F: Flow> Typed<F> {
    pub const fn new() -> Typed<F> {
        Typed(PhantomData)
    }
}

impl<F: Flow> std::fmt::Debug for Typed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed<{}>", F::name())
    }
}

impl<F: Flow> Default for Typed<F> {
    fn default() -> Self {
        Typed::new()
    }
}

impl<F: Flow> DynFlow for Typed<F> {
    fn name(&self) -> &'static str {
        F::name()
    }
    fn steps(&self) -> Vec<&'static str> {
        F::Step::all().iter().map(|s| s.id()).collect()
    }
    fn first_step(&self) -> &'static str {
        F::first_step().id()
    }
    fn schema(&self) -> &'static DataSchema {
        F::schema()
    }
    fn connections(&self) -> &'static [ConnectionDef] {
        F::connections()
    }
    fn connection_settings(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        F::connection_settings()
    }
    fn signal_schema(&self, name: &str) -> Option<&'static DataSchema> {
        F::signal_schema(name)
    }
    fn triggers(&self) -> &'static [TriggerDef] {
        F::triggers()
    }
    fn schedules(&self) -> &'static [ScheduleDef] {
        F::schedules()
    }
    fn event_feeds(&self) -> &'static [FeedDef] {
        F::event_feeds()
    }
    fn batch_steps(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        F::batch_steps()
    }
    fn default_retry(&self) -> RetryPolicy {
        F::default_retry()
    }
    fn run_step<'a>(
        &'a self,
        step: &'static str,
        data: &'a mut Value,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<&'static str>, StepError>> {
        Box::pin(async move {
            let step = F::Step::from_id(step)
                .ok_or_else(|| StepError::Fatal(format!("unknown step `{step}`")))?;
            // The engine hands every step a copy of the data and keeps its own
            // when the step fails, so the copy can be moved into the typed struct.
            let mut typed: F::Data = serde_json::from_value(data.take()).map_err(|e| {
                StepError::Fatal(format!("the issue's data does not fit the flow: {e}"))
            })?;
            let t = F::run_step(step, &mut typed, cx).await?;
            *data = serde_json::to_value(&typed)
                .map_err(|e| StepError::Fatal(format!("cannot store the issue's data: {e}")))?;
            Ok(map_steps(t, |s: F::Step| s.id()))
        })
    }
}

/// The same transition with its steps renamed.
pub(crate) fn map_steps<A, B>(t: Transition<A>, mut f: impl FnMut(A) -> B) -> Transition<B> {
    match t {
        Transition::Next(s) => Transition::Next(f(s)),
        Transition::Wait(w) => Transition::Wait(Wait {
            on: w.on,
            timeout: w.timeout,
            on_timeout: f(w.on_timeout),
            poll: w.poll,
        }),
        Transition::Timer { until, next } => Transition::Timer {
            until,
            next: f(next),
        },
        Transition::EnterLoop { count, body, after } => Transition::EnterLoop {
            count,
            body: f(body),
            after: f(after),
        },
        Transition::LoopNext => Transition::LoopNext,
        Transition::End(o) => Transition::End(o),
        Transition::Fail(m) => Transition::Fail(m),
    }
}

struct Registered {
    flow: &'static dyn DynFlow,
    steps: Vec<&'static str>,
    all: Vec<ErasedStep>,
}

static FLOW: OnceLock<Registered> = OnceLock::new();

/// Makes `flow` the process's flow (a generated binary serves one flow). A
/// second registration of another flow is refused.
pub fn register(flow: &'static dyn DynFlow) -> Result<(), String> {
    let steps = flow.steps();
    if steps.len() > usize::from(u16::MAX) {
        return Err(format!("flow `{}` has too many steps", flow.name()));
    }
    let all = (0..steps.len() as u16).map(ErasedStep).collect();
    let new = Registered { flow, steps, all };
    match FLOW.set(new) {
        Ok(()) => Ok(()),
        Err(_) if registered().name() == flow.name() => Ok(()),
        Err(_) => Err(format!(
            "flow `{}` is registered already; cannot serve `{}` too",
            registered().name(),
            flow.name()
        )),
    }
}

fn reg() -> &'static Registered {
    FLOW.get()
        .unwrap_or_else(|| panic!("no flow registered: a generated main calls cli::main_typed"))
}

fn registered() -> &'static dyn DynFlow {
    reg().flow
}

/// A step of the registered flow: an index into its step list.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErasedStep(u16);

impl StepId for ErasedStep {
    // The list is only known at run time: `all()` reads the registered flow.
    const ALL: &'static [Self] = &[];
    fn all() -> &'static [Self] {
        &reg().all
    }
    fn id(self) -> &'static str {
        reg().steps.get(usize::from(self.0)).copied().unwrap_or("")
    }
    fn from_id(id: &str) -> Option<Self> {
        reg()
            .steps
            .iter()
            .position(|s| *s == id)
            .map(|i| ErasedStep(i as u16))
    }
}

/// The registered flow as a `Flow`: the one instantiation of the engine and
/// the CLI that every generated binary shares.
#[doc(hidden)]
#[derive(Debug)]
pub struct Erased;

impl Flow for Erased {
    // The name is only known at run time: `name()` reads the registered flow.
    const NAME: &'static str = "";
    type Data = Value;
    type Step = ErasedStep;

    fn name() -> &'static str {
        registered().name()
    }
    fn schema() -> &'static DataSchema {
        registered().schema()
    }
    fn connections() -> &'static [ConnectionDef] {
        registered().connections()
    }
    fn connection_settings() -> &'static [(&'static str, &'static str, &'static str)] {
        registered().connection_settings()
    }
    fn signal_schema(name: &str) -> Option<&'static DataSchema> {
        registered().signal_schema(name)
    }
    fn triggers() -> &'static [TriggerDef] {
        registered().triggers()
    }
    fn schedules() -> &'static [ScheduleDef] {
        registered().schedules()
    }
    fn event_feeds() -> &'static [FeedDef] {
        registered().event_feeds()
    }
    fn batch_steps() -> &'static [(&'static str, &'static str, &'static str)] {
        registered().batch_steps()
    }
    fn default_retry() -> RetryPolicy {
        registered().default_retry()
    }
    fn first_step() -> ErasedStep {
        ErasedStep::from_id(registered().first_step()).unwrap_or(ErasedStep(0))
    }
    fn run_step<'a>(
        step: ErasedStep,
        data: &'a mut Value,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<ErasedStep>, StepError>> {
        Box::pin(async move {
            let t = registered().run_step(step.id(), data, cx).await?;
            let mut unknown = None;
            let t = map_steps(t, |id| {
                ErasedStep::from_id(id).unwrap_or_else(|| {
                    unknown = Some(id);
                    step
                })
            });
            match unknown {
                Some(id) => Err(StepError::Fatal(format!("unknown step `{id}`"))),
                None => Ok(t),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::clock::SystemClock;
    use crate::engine::{Engine, RunOptions};
    use crate::flow::Outcome;
    use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
    use crate::value::{ItemDef, ValueType};

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct Data {
        n: i64,
        #[serde(default)]
        route: Vec<String>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Step {
        Count,
        Done,
    }

    impl StepId for Step {
        const ALL: &'static [Step] = &[Step::Count, Step::Done];
        fn id(self) -> &'static str {
            match self {
                Step::Count => "count",
                Step::Done => "done",
            }
        }
    }

    static ITEMS: [ItemDef; 1] = [ItemDef::new("n", ValueType::Integer)];
    static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

    /// Counts `n` up to 3 in a loop of `Next`s, then ends.
    #[derive(Debug)]
    struct Counter;

    impl Flow for Counter {
        const NAME: &'static str = "erased_counter";
        type Data = Data;
        type Step = Step;
        fn schema() -> &'static DataSchema {
            &SCHEMA
        }
        fn first_step() -> Step {
            Step::Count
        }
        fn run_step<'a>(
            step: Step,
            data: &'a mut Data,
            _cx: &'a mut StepContext,
        ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
            Box::pin(async move {
                data.route.push(step.id().to_string());
                Ok(match step {
                    Step::Count if data.n < 3 => {
                        data.n += 1;
                        Transition::Next(Step::Count)
                    }
                    Step::Count => Transition::Next(Step::Done),
                    Step::Done => Transition::End(Outcome::Completed),
                })
            })
        }
    }

    #[derive(Debug)]
    struct Other;

    impl Flow for Other {
        const NAME: &'static str = "erased_other";
        type Data = Data;
        type Step = Step;
        fn schema() -> &'static DataSchema {
            &SCHEMA
        }
        fn first_step() -> Step {
            Step::Done
        }
        fn run_step<'a>(
            _: Step,
            _: &'a mut Data,
            _: &'a mut StepContext,
        ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
            Box::pin(async { Ok(Transition::End(Outcome::Completed)) })
        }
    }

    static COUNTER: Typed<Counter> = Typed::new();
    static OTHER: Typed<Other> = Typed::new();

    /// One test, as the registration is once per process.
    #[tokio::test]
    async fn the_erased_flow_runs_like_the_typed_one() {
        register(&COUNTER).unwrap();
        register(&COUNTER).unwrap();
        let e = register(&OTHER).unwrap_err();
        assert!(
            e.contains("erased_counter") && e.contains("erased_other"),
            "{e}"
        );

        assert_eq!(Erased::name(), "erased_counter");
        let ids: Vec<&str> = ErasedStep::all().iter().map(|s| s.id()).collect();
        assert_eq!(ids, ["count", "done"]);
        assert_eq!(Erased::first_step().id(), "count");
        assert_eq!(ErasedStep::from_id("nope"), None);

        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", Erased::name())).unwrap());
        let engine = Engine::<Erased>::new(store.clone(), Arc::new(SystemClock));
        let ids = engine
            .start_validated(vec![json!({"n": 1, "route": []})])
            .await
            .unwrap();
        engine
            .run(
                RunOptions {
                    once: true,
                    ..RunOptions::default()
                },
                None,
            )
            .await
            .unwrap();
        let row = store.load(&ids[0]).await.unwrap().unwrap();
        assert_eq!(row.state, IssueState::Completed);
        assert_eq!(row.data["n"], 3);
        assert_eq!(
            row.data["route"],
            json!(["count", "count", "count", "done"]),
            "the typed steps ran in order, their data carried between them"
        );
    }

    #[test]
    fn transitions_keep_everything_but_their_steps() {
        let t = Transition::Timer {
            until: jiff::Timestamp::UNIX_EPOCH,
            next: 1,
        };
        assert_eq!(
            map_steps(t, |n: i32| n * 10),
            Transition::Timer {
                until: jiff::Timestamp::UNIX_EPOCH,
                next: 10
            }
        );
        let t: Transition<i32> = Transition::Fail("x".into());
        assert_eq!(map_steps(t, |n| n + 1), Transition::Fail("x".into()));
    }
}
