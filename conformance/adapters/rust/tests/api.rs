//! The port's rules checked directly through its API (the conformance vectors check them
//! through the adapter). Waits are generous: the checks must hold on a loaded machine.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use channels::{
    mkchannel, terminate_threads, timeout_from_secs, CallbackChannelReader, CallbackError, ChannelKind,
    ChannelReader, Count, Error, Graph, IteratorReader, Node, Reader, Task, TaskFn, TerminateRequest,
    WorkItem, WorkerThread, Writer,
};

const ALL: Count = Count::All;

fn at_most(n: usize) -> Count {
    Count::AtMost(n)
}

#[test]
fn the_timeout_restarts_for_each_item_c8() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 0);
    let writer = thread::spawn(move || {
        for item in 1..=4 {
            thread::sleep(Duration::from_millis(400));
            w.write(item, false, None)
                .expect("an open channel takes the item");
        }
    });
    // Items 0.4 s apart, 1.6 s in all, against a 1 s timeout per item.
    let items = r
        .read(at_most(4), true, Some(Duration::from_secs(1)))
        .expect("a channel read");
    writer.join().expect("the writer ends");
    assert_eq!(items, vec![1, 2, 3, 4]);
}

#[test]
fn an_expired_timeout_returns_the_items_so_far_c8() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 0);
    w.write(1, false, None).expect("an open channel takes the item");
    let start = Instant::now();
    assert_eq!(
        r.read(at_most(3), true, Some(Duration::from_millis(100))),
        Ok(vec![1])
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn timeouts_are_checked_c13() {
    assert!(matches!(timeout_from_secs(-1.0), Err(Error::Value(_))));
    assert!(matches!(timeout_from_secs(f64::NAN), Err(Error::Value(_))));
    assert_eq!(timeout_from_secs(f64::INFINITY), Ok(None));
    assert_eq!(timeout_from_secs(0.5), Ok(Some(Duration::from_millis(500))));
}

#[test]
fn close_wakes_blocked_readers_and_writers_c10_b3() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 1);
    let w = Arc::new(w);
    let r = Arc::new(r);
    w.write(1, false, None).expect("room for one");
    let blocked_writer = {
        let w = Arc::clone(&w);
        thread::spawn(move || w.write(2, true, None))
    };
    thread::sleep(Duration::from_millis(100));
    w.close();
    assert_eq!(
        blocked_writer.join().expect("the writer returns"),
        Err(Error::ReadOnly)
    );
    let reader = {
        let r = Arc::clone(&r);
        thread::spawn(move || r.read(at_most(3), true, None))
    };
    assert_eq!(reader.join().expect("the reader returns"), Ok(vec![1]));
    assert_eq!(r.read(ALL, true, None), Ok(vec![]));
}

#[test]
fn a_bulk_read_takes_everything_there_c9() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 0);
    for item in [1, 2, 3] {
        w.write(item, false, None)
            .expect("an open channel takes the item");
    }
    assert_eq!(r.read(ALL, false, None), Ok(vec![1, 2, 3]));
    assert_eq!(r.read(at_most(1), false, None), Ok(vec![]));
}

#[test]
fn a_failing_post_read_callback_puts_the_items_back_in_order_k3() {
    let queue = ChannelKind::Channel.queue::<i32>(0);
    for item in [1, 2, 3] {
        queue
            .put(item, false, None)
            .expect("an open queue takes the item");
    }
    let reader = CallbackChannelReader::new(Arc::clone(&queue));
    reader.set_post_cb(Some(Arc::new(|_: &[i32]| Err(CallbackError("no".to_string())))));
    assert!(matches!(
        reader.read(at_most(2), false, None),
        Err(Error::Callback(_))
    ));
    assert!(reader.set_post_cb(None).is_some());
    assert_eq!(
        ChannelReader::new(queue).read(ALL, false, None),
        Ok(vec![1, 2, 3])
    );
}

#[test]
fn a_failing_iterator_keeps_the_taken_items_k6() {
    let source = vec![Ok(1), Ok(2), Err(CallbackError("once".to_string())), Ok(3)];
    let reader = IteratorReader::new(source.into_iter());
    assert!(matches!(
        reader.read(at_most(3), true, None),
        Err(Error::Callback(_))
    ));
    assert_eq!(reader.read(at_most(1), true, None), Ok(vec![1]));
    assert_eq!(reader.read(ALL, true, None), Ok(vec![2, 3]));
}

#[test]
fn the_graph_refuses_cycles_and_lists_inputs_first_g2_g4() {
    let (a, b, c, d) = (Node::new("a"), Node::new("b"), Node::new("c"), Node::new("d"));
    let mut g = Graph::new();
    for node in [&a, &b, &c, &d] {
        g.add_node(node);
    }
    for (u, v) in [(&a, &b), (&a, &c), (&b, &d), (&c, &d)] {
        g.add_edge(u, v).expect("an edge of the diamond");
    }
    assert!(g.add_edge(&d, &a).is_err());
    assert!(g.add_edge(&a, &a).is_err());
    let order: Vec<String> = g
        .input_inclusive_dfirst_reversed(&d)
        .iter()
        .map(|n| n.id.clone())
        .collect();
    assert_eq!(order, ["a", "b", "c", "d"]);
    g.remove_node(&b);
    assert!(g.in_nodes(&d).iter().all(|n| n.id == "c"));
}

#[test]
fn a_worker_runs_its_items_survives_a_failing_one_and_stops_w5() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 0);
    let w = Arc::new(w);
    let worker = WorkerThread::start();
    for item in [1, 2] {
        let w = Arc::clone(&w);
        worker
            .put(WorkItem::Run(Box::new(move || {
                w.write(item, false, None)
                    .map_err(|e| CallbackError(e.to_string()))
            })))
            .expect("queued");
    }
    worker
        .put(WorkItem::Run(Box::new(|| {
            Err(CallbackError("planted".to_string()))
        })))
        .expect("queued");
    let last = Arc::clone(&w);
    worker
        .put(WorkItem::Run(Box::new(move || {
            last.write(3, false, None)
                .map_err(|e| CallbackError(e.to_string()))
        })))
        .expect("queued");
    worker.stop_and_join().expect("queued");
    assert!(
        !worker.join(Some(Duration::from_secs(10))),
        "the worker stops after its items"
    );
    assert_eq!(r.read(ALL, false, None), Ok(vec![1, 2, 3]));
}

#[test]
fn terminate_threads_ends_the_threads_even_when_its_function_fails_w6() {
    let mut started = Vec::new();
    let result: Result<(), CallbackError> = terminate_threads(|scope| {
        started.push(scope.start(TerminateRequest::wait_for_termination));
        started.push(scope.start(TerminateRequest::wait_for_termination));
        assert!(started.iter().all(|t| t.is_alive()));
        Err(CallbackError("planted".to_string()))
    });
    assert!(result.is_err());
    assert!(started.iter().all(|t| !t.is_alive()));
}

#[test]
fn a_task_keeps_its_first_failure_and_closes_when_done_t2_t3_t4() {
    let (w, r) = mkchannel::<i32>(ChannelKind::Channel, 0);
    let items = vec![Ok(1), Ok(2), Ok(3)].into_iter();
    let fun: TaskFn<i32> = TaskFn::Single(Arc::new(|x| {
        if x == 3 {
            Err(CallbackError("three".to_string()))
        } else {
            Ok(x * 10)
        }
    }));
    let task = Task::new(
        "t",
        Arc::new(IteratorReader::new(items)),
        Some(fun),
        Some(Arc::new(w)),
        None,
        0,
    )
    .expect("valid settings");
    task.process(at_most(2));
    assert!(
        !task.is_done(),
        "a read of exactly the items there is not exhaustion"
    );
    task.process(ALL);
    assert!(task.is_done() && task.is_closed());
    assert!(matches!(task.error(), Some(Error::Callback(_))));
    assert_eq!(r.read(ALL, true, None), Ok(vec![10, 20]));
    let reader: Arc<dyn Reader<i32>> = Arc::new(IteratorReader::new(Vec::new().into_iter()));
    assert!(Task::new("u", reader, None, None, Some(-1), 0).is_err());
}
