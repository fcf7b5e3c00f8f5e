//! Runs one case, in either of the runner's two ways. Batch (PROTOCOL.md sections 1 and
//! 2): the whole case comes at once and the adapter times it itself (setup on the main
//! thread, each script step issued to its logical thread, "blocked" decided by the
//! quiescence window, a final wait) and prints one report. Stepwise: the runner sends the
//! setup, then one step per line, and times everything itself; the adapter prints a line
//! as each operation returns.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use std::io::Write;

use crate::json::{self, Value};
use crate::ops::{Failure, World};

/// After issuing a step, what the adapter waits for within its quiescence window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The step, and every earlier operation still running (the reading of PROTOCOL.md's
    /// sketch: a step issued while another is blocked costs the whole window).
    Window,
    /// Only the step just issued.
    Issued,
}

/// The outcome of one issued step, filled in once by the thread that runs it.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<Value>>,
    filled: Condvar,
}

impl Slot {
    fn fill(&self, result: Value) {
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.filled.notify_all();
    }

    /// Waits until filled or `deadline`; the result if filled.
    fn wait_until(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        let empty = |result: &mut Option<Value>| result.is_none();
        let (result, _) = self
            .filled
            .wait_timeout_while(result, left, empty)
            .unwrap_or_else(PoisonError::into_inner);
        result.clone()
    }

    fn is_filled(&self) -> bool {
        self.result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// `{"value": V}` or `{"error": kind}`; a failure the API did not raise (a wrong argument
/// type, an operation this port lacks, a malformed step) is also described on stderr.
fn perform(world: &World, step: &Value) -> Value {
    match world.perform(step) {
        Ok(value) => Value::object(vec![("value", value)]),
        Err(failure) => {
            if !matches!(failure, Failure::Api(_)) {
                let op = step.get("op").map_or_else(String::new, ToString::to_string);
                eprintln!("step {op}: {failure}");
            }
            Value::object(vec![("error", Value::Str(failure.kind()))])
        }
    }
}

/// What to do with a step's outcome once its thread has run it.
type Done = Box<dyn FnOnce(Value) + Send>;

/// A logical thread: one OS thread running the steps sent to it, one at a time.
struct Logical {
    inbox: Sender<(Value, Done)>,
    current: Option<Arc<Slot>>,
}

impl Logical {
    fn start(world: &Arc<World>) -> Logical {
        let (inbox, steps) = mpsc::channel::<(Value, Done)>();
        let world = Arc::clone(world);
        thread::spawn(move || {
            for (step, done) in steps {
                done(perform(&world, &step));
            }
        });
        Logical { inbox, current: None }
    }

    /// Sends `step` to the thread; false if the thread is gone.
    fn issue(&self, step: &Value, done: Done) -> bool {
        self.inbox.send((step.clone(), done)).is_ok()
    }
}

/// The first setup step that fails, as `"op: Kind"`.
fn run_setup(world: &World, case: &Value) -> Option<String> {
    let Some(Value::Array(steps)) = case.get("setup") else {
        return None;
    };
    steps.iter().find_map(|step| {
        let result = perform(world, step);
        let kind = result.get("error")?.as_str().unwrap_or("?").to_string();
        Some(format!(
            "{}: {kind}",
            step.get("op").and_then(Value::as_str).unwrap_or("?")
        ))
    })
}

fn seconds(case: &Value, key: &str, default: f64) -> Duration {
    let secs = case
        .get(key)
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(secs.min(3600.0))
}

/// Runs `case` and returns its report. Threads still blocked at the end keep running;
/// the caller exits without waiting for them.
pub fn run_case(case: &Value, waiting: Waiting) -> Value {
    let id = case.get("id").cloned().unwrap_or(Value::Null);
    let quiescence = seconds(case, "quiescence_s", 0.5);
    let final_wait = seconds(case, "final_s", 5.0);
    let world = Arc::new(World::default());
    if let Some(error) = run_setup(&world, case) {
        return Value::object(vec![
            ("id", id),
            ("setup_error", Value::Str(error)),
            ("results", Value::Object(Vec::new())),
        ]);
    }
    let script = match case.get("script") {
        Some(Value::Array(steps)) => steps.as_slice(),
        _ => &[],
    };
    let mut threads: HashMap<String, Logical> = HashMap::new();
    // (step id, blocked when issued, its slot), in issue order
    let mut issued: Vec<(String, bool, Arc<Slot>)> = Vec::new();
    for (index, step) in script.iter().enumerate() {
        let step_id = step
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("s{}", index + 1), str::to_string);
        let slot = Arc::new(Slot::default());
        let Some(name) = step.get("thread").and_then(Value::as_str) else {
            slot.fill(perform(&world, step));
            issued.push((step_id, false, slot));
            continue;
        };
        let logical = threads
            .entry(name.to_string())
            .or_insert_with(|| Logical::start(&world));
        if logical.current.as_ref().is_some_and(|busy| !busy.is_filled()) {
            slot.fill(Value::object(vec![(
                "error",
                Value::Str("Protocol:thread busy".to_string()),
            )]));
            issued.push((step_id, false, slot));
            continue;
        }
        logical.current = Some(Arc::clone(&slot));
        let deadline = Instant::now() + quiescence;
        let filled = Arc::clone(&slot);
        let sent = logical.issue(step, Box::new(move |result| filled.fill(result)));
        let returned = sent && slot.wait_until(deadline).is_some();
        if waiting == Waiting::Window {
            for (_, _, other) in &issued {
                other.wait_until(deadline);
            }
        }
        issued.push((step_id, !returned, slot));
    }
    let deadline = Instant::now() + final_wait;
    let mut results = Vec::new();
    for (step_id, blocked, slot) in issued {
        let outcome = match slot.wait_until(deadline) {
            Some(Value::Object(mut fields)) => {
                fields.insert(0, ("blocked".to_string(), Value::Bool(blocked)));
                Value::Object(fields)
            }
            _ => Value::object(vec![
                ("blocked", Value::Bool(true)),
                ("pending", Value::Bool(true)),
            ]),
        };
        results.push((step_id, outcome));
    }
    Value::object(vec![("id", id), ("results", Value::Object(results))])
}

/// Prints one message of the stepwise protocol as a line of its own.
fn say(message: &Value) {
    let mut stdout = std::io::stdout().lock();
    // A runner that stopped reading has ended the case; the end of stdin ends the adapter.
    let _ = writeln!(stdout, "{message}").and_then(|()| stdout.flush());
}

/// `{"done": id, "value": V}` or `{"done": id, "error": kind}`.
fn done_message(step_id: &str, result: Value) -> Value {
    let mut fields = vec![("done".to_string(), Value::Str(step_id.to_string()))];
    if let Value::Object(outcome) = result {
        fields.extend(outcome);
    }
    Value::Object(fields)
}

/// The stepwise protocol, after its first line `header` (`{"id", "stepwise": true,
/// "setup"}`): answers the setup, then runs each `{"step": ...}` line as it comes (a
/// control step inline, a step with `thread` on that logical thread) and prints a line as
/// each returns. Returns at the end of the input; a line that is not a step is an error.
pub fn run_stepwise(
    header: &Value,
    lines: impl Iterator<Item = std::io::Result<String>>,
) -> Result<(), String> {
    let world = Arc::new(World::default());
    if let Some(error) = run_setup(&world, header) {
        say(&Value::object(vec![("setup_error", Value::Str(error))]));
        return Ok(());
    }
    say(&Value::object(vec![("setup", Value::Str("ok".to_string()))]));
    let mut threads: HashMap<String, Logical> = HashMap::new();
    for line in lines {
        let line = line.map_err(|error| format!("cannot read a step: {error}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let message = json::parse(&line).map_err(|why| format!("a step line is not JSON: {why}"))?;
        let step = message.get("step").ok_or("a stepwise line needs \"step\"")?;
        let step_id = step
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a step needs a string \"id\"")?
            .to_string();
        match step.get("thread").and_then(Value::as_str) {
            None => say(&done_message(&step_id, perform(&world, step))),
            Some(name) => {
                let logical = threads
                    .entry(name.to_string())
                    .or_insert_with(|| Logical::start(&world));
                logical.issue(step, Box::new(move |result| say(&done_message(&step_id, result))));
            }
        }
    }
    Ok(())
}
