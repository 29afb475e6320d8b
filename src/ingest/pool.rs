//! The analysis threads: one per core, each task with a time budget. A
//! task over its budget is given up: its thread is left to finish on its
//! own (its result is dropped) and a new thread takes its place, so one
//! poison message never holds up the others. The analysis is bounded by
//! design (capped inputs, linear passes); the budget is the backstop for
//! what that design missed.
//!
//! (A general-purpose pool such as rayon cannot give a task up: its join
//! waits for every task. So this one is ours, and small.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One task: runs on a pool thread, returns its result.
pub type Task<T> = Box<dyn FnOnce() -> T + Send>;

enum Event<T> {
    Started(u64, Instant),
    Done(u64, T),
}

type Queue<T> = Arc<Mutex<mpsc::Receiver<(u64, Task<T>)>>>;

/// A pool of analysis threads.
pub struct Pool<T> {
    tasks: Option<mpsc::Sender<(u64, Task<T>)>>,
    queue: Queue<T>,
    events_tx: mpsc::Sender<Event<T>>,
    events: mpsc::Receiver<Event<T>>,
    next: u64,
    /// Counted up as tasks finish: the writer shows progress to the
    /// watchdog while it moves.
    progress: Arc<AtomicU64>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool of `threads` threads.
    pub fn new(threads: usize, progress: Arc<AtomicU64>) -> Pool<T> {
        let (tasks, queue) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let pool = Pool {
            tasks: Some(tasks),
            queue: Arc::new(Mutex::new(queue)),
            events_tx,
            events,
            next: 0,
            progress,
        };
        for _ in 0..threads.max(1) {
            pool.spawn();
        }
        pool
    }

    fn spawn(&self) {
        let (queue, events) = (Arc::clone(&self.queue), self.events_tx.clone());
        let spawned = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((seq, task)) = next else { return };
                    if events.send(Event::Started(seq, Instant::now())).is_err() {
                        return;
                    }
                    let out = task();
                    if events.send(Event::Done(seq, out)).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an analysis thread");
        }
    }

    /// Runs the tasks, each within `budget` of its start; the results in
    /// order, `None` for a task given up.
    pub fn run(&mut self, tasks: Vec<Task<T>>, budget: Duration) -> Vec<Option<T>> {
        let first = self.next;
        let n = tasks.len();
        self.next += n as u64;
        let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
        let Some(tx) = &self.tasks else { return out };
        for (i, task) in tasks.into_iter().enumerate() {
            // The threads end only when this sender is dropped.
            let _ = tx.send((first + i as u64, task));
        }
        let ours = |seq: u64| (first..first + n as u64).contains(&seq);
        let (mut started, mut left) = (HashMap::<u64, Instant>::new(), n);
        while left > 0 {
            let wait = started.values().min().map_or(budget, |at| {
                (*at + budget).saturating_duration_since(Instant::now())
            });
            match self.events.recv_timeout(wait.max(Duration::from_millis(1))) {
                Ok(Event::Started(seq, at)) if ours(seq) => {
                    started.insert(seq, at);
                }
                Ok(Event::Done(seq, result)) if ours(seq) && started.remove(&seq).is_some() => {
                    out[(seq - first) as usize] = Some(result);
                    left -= 1;
                    self.progress.fetch_add(1, Ordering::Relaxed);
                }
                // A task given up earlier that finished after all.
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    let over: Vec<u64> = started
                        .iter()
                        .filter(|(_, at)| now.duration_since(**at) >= budget)
                        .map(|(seq, _)| *seq)
                        .collect();
                    for seq in over {
                        started.remove(&seq);
                        left -= 1;
                        self.progress.fetch_add(1, Ordering::Relaxed);
                        // Its thread is busy for good, as far as we know.
                        self.spawn();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // The threads end once the queue is empty and closed.
        self.tasks.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_a_slow_task_is_given_up() {
        let mut pool: Pool<u32> = Pool::new(2, Arc::default());
        let tasks: Vec<Task<u32>> = (0..8)
            .map(|i| -> Task<u32> {
                Box::new(move || {
                    if i == 3 {
                        std::thread::sleep(Duration::from_secs(3));
                    }
                    i * 10
                })
            })
            .collect();
        let t = Instant::now();
        let out = pool.run(tasks, Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let want: Vec<Option<u32>> = (0..8).map(|i| (i != 3).then_some(i * 10)).collect();
        assert_eq!(out, want);
        // The pool goes on with a fresh thread in place of the stuck one.
        let again = pool.run(vec![Box::new(|| 7), Box::new(|| 8)], Duration::from_secs(5));
        assert_eq!(again, [Some(7), Some(8)]);
    }
}
