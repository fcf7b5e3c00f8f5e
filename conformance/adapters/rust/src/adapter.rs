//! Runs one case as PROTOCOL.md section 1 says: setup on the main thread, each script step
//! issued to its logical thread, "blocked" decided by the quiescence window, then a final
//! wait; the report of section 2.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::json::Value;
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
        let mut result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(value) = result.as_ref() {
                return Some(value.clone());
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())?;
            result = self
                .filled
                .wait_timeout(result, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
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

/// A logical thread: one OS thread running the steps sent to it, one at a time.
struct Logical {
    inbox: Sender<(Value, Arc<Slot>)>,
    current: Option<Arc<Slot>>,
}

impl Logical {
    fn start(world: &Arc<World>) -> Logical {
        let (inbox, steps) = mpsc::channel::<(Value, Arc<Slot>)>();
        let world = Arc::clone(world);
        thread::spawn(move || {
            for (step, slot) in steps {
                slot.fill(perform(&world, &step));
            }
        });
        Logical { inbox, current: None }
    }
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
    let empty = Vec::new();
    let list = |key: &str| match case.get(key) {
        Some(Value::Array(steps)) => steps,
        _ => &empty,
    };
    for step in list("setup") {
        if let Some(error) = perform(&world, step).get("error") {
            let op = step.get("op").and_then(Value::as_str).unwrap_or("?");
            let kind = error.as_str().unwrap_or("?");
            return Value::object(vec![
                ("id", id),
                ("setup_error", Value::Str(format!("{op}: {kind}"))),
                ("results", Value::Object(Vec::new())),
            ]);
        }
    }
    let mut threads: HashMap<String, Logical> = HashMap::new();
    // (step id, blocked when issued, its slot), in issue order
    let mut issued: Vec<(String, bool, Arc<Slot>)> = Vec::new();
    for (index, step) in list("script").iter().enumerate() {
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
        let sent = logical.inbox.send((step.clone(), Arc::clone(&slot))).is_ok();
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
