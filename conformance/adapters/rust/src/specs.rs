//! The case's functions (PROTOCOL.md, "Function specs"), and the logs and gates they use.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use channels::CallbackError;

use crate::json::Value;

/// A gated function never waits longer than this for its gate.
const GATE_LIMIT: Duration = Duration::from_secs(30);

pub type Func = Arc<dyn Fn(Value) -> Result<Value, CallbackError> + Send + Sync>;

fn locked<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An installed callback's address, the spec it was made from, and the callback itself
/// (kept so that the address stays its own).
type Label = (usize, Value, Box<dyn Any + Send + Sync>);

/// Logs and gates (created on first use, shared by every thread), and which spec each
/// installed callback was made from.
#[derive(Default)]
pub struct Env {
    logs: Mutex<HashMap<String, Vec<Value>>>,
    log_grew: Condvar,
    gates: Mutex<HashSet<String>>,
    gate_opened: Condvar,
    labels: Mutex<Vec<Label>>,
}

fn address<F: ?Sized>(callback: &Arc<F>) -> usize {
    Arc::as_ptr(callback).cast::<()>() as usize
}

impl Env {
    pub fn append(&self, log: &str, entry: Value) {
        locked(&self.logs).entry(log.to_string()).or_default().push(entry);
        self.log_grew.notify_all();
    }

    pub fn log(&self, log: &str) -> Vec<Value> {
        locked(&self.logs).get(log).cloned().unwrap_or_default()
    }

    /// Waits up to `limit` until `log` holds `length` entries; whether it does.
    pub fn wait_log(&self, log: &str, length: usize, limit: Duration) -> bool {
        let short = |logs: &mut HashMap<String, Vec<Value>>| logs.get(log).map_or(0, Vec::len) < length;
        let logs = locked(&self.logs);
        let (mut logs, _) = self
            .log_grew
            .wait_timeout_while(logs, limit, short)
            .unwrap_or_else(PoisonError::into_inner);
        !short(&mut logs)
    }

    pub fn open_gate(&self, gate: &str) {
        locked(&self.gates).insert(gate.to_string());
        self.gate_opened.notify_all();
    }

    fn wait_gate(&self, gate: &str) {
        let gates = locked(&self.gates);
        let closed = |gates: &mut HashSet<String>| !gates.contains(gate);
        drop(self.gate_opened.wait_timeout_while(gates, GATE_LIMIT, closed));
    }

    /// Remembers that `callback` was made from `spec`.
    pub fn label<F: ?Sized + Send + Sync + 'static>(&self, callback: &Arc<F>, spec: &Value) {
        locked(&self.labels).push((address(callback), spec.clone(), Box::new(Arc::clone(callback))));
    }

    /// The spec a callback was made from, `null` for none, `"<unknown callable>"` else.
    pub fn spec_of<F: ?Sized>(&self, callback: Option<&Arc<F>>) -> Value {
        let Some(callback) = callback else {
            return Value::Null;
        };
        let wanted = address(callback);
        let labels = locked(&self.labels);
        match labels.iter().find(|(at, _, _)| *at == wanted) {
            Some((_, spec, _)) => spec.clone(),
            None => Value::Str("<unknown callable>".to_string()),
        }
    }
}

/// The function a spec describes; `Err` names what is wrong with the spec.
pub fn compile(spec: &Value, env: &Arc<Env>) -> Result<Func, String> {
    let kind = spec
        .get("fn")
        .and_then(Value::as_str)
        .ok_or("a function spec needs \"fn\"")?
        .to_string();
    let then = spec.get("then").map(|next| compile(next, env)).transpose()?;
    let needs = |key: &str| {
        spec.get(key)
            .cloned()
            .ok_or(format!("spec {kind:?} needs {key:?}"))
    };
    let arg = match kind.as_str() {
        "add" | "mul" => needs("k")?,
        "raise_if" => needs("equals")?,
        "log" => needs("log")?,
        "gate" => needs("gate")?,
        "identity" | "raise" | "reverse" => Value::Null,
        other => return Err(format!("unknown function spec {other:?}")),
    };
    let with_len = spec.get("len") == Some(&Value::Bool(true));
    let env = Arc::clone(env);
    Ok(Arc::new(move |x: Value| {
        let result = apply(&kind, &arg, with_len, &env, x)?;
        match &then {
            Some(next) => next(result),
            None => Ok(result),
        }
    }))
}

fn apply(kind: &str, arg: &Value, with_len: bool, env: &Env, x: Value) -> Result<Value, CallbackError> {
    let fail = |why: String| Err(CallbackError(why));
    match kind {
        "identity" => Ok(x),
        "add" | "mul" => match (&x, arg) {
            (Value::Int(a), Value::Int(k)) => {
                let result = if kind == "add" {
                    a.checked_add(*k)
                } else {
                    a.checked_mul(*k)
                };
                result
                    .map(Value::Int)
                    .ok_or_else(|| CallbackError("integer overflow".to_string()))
            }
            _ => match (x.as_f64(), arg.as_f64()) {
                (Some(a), Some(k)) => Ok(Value::Float(if kind == "add" { a + k } else { a * k })),
                _ => fail(format!("{kind} of {x} and {arg}")),
            },
        },
        "raise" => fail("raised by the case's function".to_string()),
        "raise_if" if x == *arg => fail(format!("raised on {x}")),
        "raise_if" => Ok(x),
        "log" => {
            let log = arg.as_str().map_or_else(|| arg.to_string(), str::to_string);
            let entry = match (&x, with_len) {
                (Value::Array(items), true) => Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX)),
                (Value::Str(s), true) => Value::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)),
                (_, true) => return fail(format!("len of {x}")),
                (_, false) => x.clone(),
            };
            env.append(&log, entry);
            Ok(x)
        }
        "gate" => {
            env.wait_gate(&arg.as_str().map_or_else(|| arg.to_string(), str::to_string));
            Ok(x)
        }
        "reverse" => match x {
            Value::Array(mut items) => {
                items.reverse();
                Ok(Value::Array(items))
            }
            other => fail(format!("reverse of {other}")),
        },
        other => fail(format!("unknown function {other:?}")),
    }
}
