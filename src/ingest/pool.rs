//! The analysis threads: one per core, each task with a time budget. A
//! task over its budget is given up: its thread is left to finish on its
//! own (its result is dropped, then the thread ends) and a new thread takes
//! its place, so one poison message never holds up the others. The
//! analysis is bounded by design (capped inputs, linear passes); the budget
//! is the backstop for what that design missed.
//!
//! (A general-purpose pool such as rayon cannot give a task up: its join
//! waits for every task. So this one is ours, and small.)

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One task: runs on a pool thread, returns its result.
pub type Task<T> = Box<dyn FnOnce() -> T + Send>;

/// What the threads and the collector share, under one lock: a task costs
/// two short lockings and wakes nobody but an idle thread; the collector
/// is woken once per batch (or when a task runs over its budget).
struct State<T> {
    /// Tasks waiting: (sequence number, batch, task).
    queue: VecDeque<(u64, u64, Task<T>)>,
    /// Tasks running: their batch and start.
    started: HashMap<u64, (u64, Instant)>,
    /// Results not collected yet.
    done: HashMap<u64, T>,
    /// Tasks given up: their threads end when (if ever) they finish.
    given_up: HashSet<u64>,
    /// Tasks not finished (nor given up) yet, per batch not collected yet
    /// (by the batch's first sequence number).
    left: HashMap<u64, usize>,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when a task is queued or the pool closes.
    work: Condvar,
    /// Signalled when the last task of a batch finishes.
    finished: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Tasks submitted together, to collect.
#[must_use = "a batch's results are collected with Pool::collect"]
pub struct Batch {
    first: u64,
    n: usize,
}

/// A pool of analysis threads.
pub struct Pool<T> {
    shared: Arc<Shared<T>>,
    next: u64,
    /// Counted up as tasks finish: the writer shows progress to the
    /// watchdog while it moves.
    progress: Arc<AtomicU64>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool of `threads` threads.
    pub fn new(threads: usize, progress: Arc<AtomicU64>) -> Pool<T> {
        let pool = Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    started: HashMap::new(),
                    done: HashMap::new(),
                    given_up: HashSet::new(),
                    left: HashMap::new(),
                    closed: false,
                }),
                work: Condvar::new(),
                finished: Condvar::new(),
            }),
            next: 0,
            progress,
        };
        for _ in 0..threads.max(1) {
            pool.spawn();
        }
        pool
    }

    fn spawn(&self) {
        let (shared, progress) = (Arc::clone(&self.shared), Arc::clone(&self.progress));
        let spawned = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || work(&shared, &progress));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an analysis thread");
        }
    }

    /// Queues the tasks and returns at once: the caller may do other work
    /// while the threads run them, then [`Pool::collect`]s the results.
    /// Batches may overlap: the threads take the next batch's tasks while
    /// the last tasks of the one before run.
    pub fn submit(&mut self, tasks: Vec<Task<T>>) -> Batch {
        self.queue(tasks, false)
    }

    /// As [`Pool::submit`], but the tasks go before those already waiting:
    /// for a batch that the batches queued before it wait for.
    pub fn submit_first(&mut self, tasks: Vec<Task<T>>) -> Batch {
        self.queue(tasks, true)
    }

    fn queue(&mut self, tasks: Vec<Task<T>>, first_in_line: bool) -> Batch {
        let first = self.next;
        let n = tasks.len();
        self.next += n as u64;
        let mut state = self.shared.lock();
        if n > 0 {
            state.left.insert(first, n);
        }
        let tasks = tasks
            .into_iter()
            .enumerate()
            .map(|(i, task)| (first + i as u64, first, task));
        if first_in_line {
            for t in tasks.rev() {
                state.queue.push_front(t);
            }
        } else {
            state.queue.extend(tasks);
        }
        drop(state);
        self.shared.work.notify_all();
        Batch { first, n }
    }

    /// The results of a submitted batch in order, each task within
    /// `budget` of its start; `None` for a task given up.
    pub fn collect(&mut self, batch: Batch, budget: Duration) -> Vec<Option<T>> {
        let Batch { first, n } = batch;
        let mut state = self.shared.lock();
        loop {
            let now = Instant::now();
            let over: Vec<(u64, u64)> = state
                .started
                .iter()
                .filter(|(_, (_, at))| now.duration_since(*at) >= budget)
                .map(|(seq, (batch, _))| (*seq, *batch))
                .collect();
            for (seq, batch) in over {
                state.started.remove(&seq);
                state.given_up.insert(seq);
                if let Some(left) = state.left.get_mut(&batch) {
                    *left -= 1;
                }
                self.progress.fetch_add(1, Ordering::Relaxed);
                // Its thread is busy for good, as far as we know.
                self.spawn();
            }
            if state.left.get(&first).is_none_or(|left| *left == 0) {
                break;
            }
            // Until the first running task's budget ends (or, with none
            // running yet, a whole budget).
            let wait = state
                .started
                .values()
                .map(|(_, at)| at)
                .min()
                .map_or(budget, |at| {
                    (*at + budget).saturating_duration_since(Instant::now())
                });
            state = self
                .shared
                .finished
                .wait_timeout(state, wait.max(Duration::from_millis(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.left.remove(&first);
        (first..first + n as u64)
            .map(|seq| state.done.remove(&seq))
            .collect()
    }
}

/// A pool thread: runs queued tasks until the pool closes, or until a
/// task it ran was given up (a fresh thread took its place).
fn work<T>(shared: &Shared<T>, progress: &AtomicU64) {
    yield_to_the_writer();
    let mut state = shared.lock();
    loop {
        let Some((seq, batch, task)) = state.queue.pop_front() else {
            if state.closed {
                return;
            }
            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        state.started.insert(seq, (batch, Instant::now()));
        drop(state);
        let out = task();
        state = shared.lock();
        if state.given_up.remove(&seq) {
            return;
        }
        state.started.remove(&seq);
        state.done.insert(seq, out);
        progress.fetch_add(1, Ordering::Relaxed);
        if let Some(left) = state.left.get_mut(&batch) {
            *left -= 1;
            if *left == 0 {
                shared.finished.notify_all();
            }
        }
    }
}

/// Lowers this thread's scheduling priority by five steps of nice (Linux
/// keeps a nice value per thread; relative, so a service started with its
/// own `Nice=` keeps the difference): the single writer is what every
/// message waits for, and the analysis runs ahead of it, so on a busy
/// machine the cores go to the writer first. Nothing is lost when the call
/// fails.
fn yield_to_the_writer() {
    let tid = rustix::thread::gettid();
    let lowered = rustix::process::getpriority_process(Some(tid))
        .and_then(|now| rustix::process::setpriority_process(Some(tid), now + ANALYSIS_NICE));
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "cannot lower the analysis thread's priority");
    }
}

/// How much lower the analysis threads run than the writer, in nice steps.
const ANALYSIS_NICE: i32 = 5;

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // Nobody collects what is still queued: the threads end once they
        // are through with the tasks they run.
        let mut state = self.shared.lock();
        state.queue.clear();
        state.closed = true;
        drop(state);
        self.shared.work.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the tasks as one batch: the results in order, `None` for a task
    /// given up.
    fn run<T: Send + 'static>(
        pool: &mut Pool<T>,
        tasks: Vec<Task<T>>,
        budget: Duration,
    ) -> Vec<Option<T>> {
        let batch = pool.submit(tasks);
        pool.collect(batch, budget)
    }

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
        let out = run(&mut pool, tasks, Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let want: Vec<Option<u32>> = (0..8).map(|i| (i != 3).then_some(i * 10)).collect();
        assert_eq!(out, want);
        // The pool goes on with a fresh thread in place of the stuck one.
        let again = run(
            &mut pool,
            vec![Box::new(|| 7), Box::new(|| 8)],
            Duration::from_secs(5),
        );
        assert_eq!(again, [Some(7), Some(8)]);
    }

    #[test]
    fn batches_overlap_and_a_batch_first_in_line_goes_first() {
        let mut pool: Pool<&'static str> = Pool::new(1, Arc::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let task = |name: &'static str| -> Task<&'static str> {
            let order = Arc::clone(&order);
            Box::new(move || {
                order.lock().unwrap().push(name);
                name
            })
        };
        // The first task holds the only thread until the gate opens.
        let (started_tx, started) = std::sync::mpsc::channel();
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let first: Task<&'static str> = {
            let order = Arc::clone(&order);
            Box::new(move || {
                started_tx.send(()).unwrap();
                gate.recv().unwrap();
                order.lock().unwrap().push("a0");
                "a0"
            })
        };
        let a = pool.submit(vec![first, task("a1")]);
        let b = pool.submit(vec![task("b0")]);
        started.recv().unwrap();
        let c = pool.submit_first(vec![task("c0"), task("c1")]);
        open.send(()).unwrap();
        let budget = Duration::from_secs(30);
        assert_eq!(pool.collect(c, budget), [Some("c0"), Some("c1")]);
        assert_eq!(pool.collect(a, budget), [Some("a0"), Some("a1")]);
        assert_eq!(pool.collect(b, budget), [Some("b0")]);
        assert_eq!(*order.lock().unwrap(), ["a0", "c0", "c1", "a1", "b0"]);
    }

    #[test]
    fn analysis_threads_run_five_nice_steps_below_their_creator() {
        let nice = |tid| rustix::process::getpriority_process(Some(tid)).unwrap();
        let ours = nice(rustix::thread::gettid());
        let mut pool: Pool<i32> = Pool::new(2, Arc::default());
        let theirs = run(
            &mut pool,
            (0..4)
                .map(|_| -> Task<i32> { Box::new(move || nice(rustix::thread::gettid())) })
                .collect(),
            Duration::from_secs(5),
        );
        // Capped at 19, the lowest priority there is.
        let want = Some((ours + ANALYSIS_NICE).min(19));
        assert!(theirs.iter().all(|n| *n == want), "{theirs:?}, ours {ours}");
    }
}
