//! A future polled only after it has woken its task: the server's shutdown watches, raced by
//! every connection against its I/O, cost one atomic load per wake-up of the connection instead
//! of a poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use pin_project_lite::pin_project;

pin_project! {
    /// Polls `future` only when it asked to be polled: once at the start, then after each time it
    /// woke the task (it is given a waker of its own that notes the wake-up and passes it on).
    ///
    /// Telling "this wake-up is for it" apart by some other state — for example whether a watch
    /// channel's version moved — loses wake-ups: a wake-up can arrive for a change the task has
    /// already seen (tokio's watch notifies its waiters in shards, one after the other, while
    /// the woken task may already be running on another thread), and a future that is not polled
    /// again is not registered for the next change.
    pub(super) struct Gated<F> {
        #[pin]
        future: F,
        gate: Arc<Gate>,
        // The waker `future` is polled with (a handle on `gate`).
        waker: Waker,
        // The task's waker as last handed to `gate`.
        task: Option<Waker>,
    }
}

impl<F: Future> Gated<F> {
    pub(super) fn new(future: F) -> Self {
        let gate = Arc::new(Gate {
            // The first poll polls the future.
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Self {
            future,
            waker: Waker::from(gate.clone()),
            gate,
            task: None,
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            let task = cx.waker().clone();
            *this.gate.lock() = Some(task.clone());
            *this.task = Some(task);
        }
        // A wake-up sets the flag before it wakes the task, so a poll that follows it sees the
        // flag; one that comes during the poll below sets it again and wakes the task again.
        if !(this.gate.woken.load(Ordering::Relaxed)
            && this.gate.woken.swap(false, Ordering::AcqRel))
        {
            return Poll::Pending;
        }
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}

/// What a [`Gated`] future's waker does: note the wake-up, then wake the task.
struct Gate {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.lock().as_ref() {
            task.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that counts its polls, keeps the waker it was last polled with, wakes it from
    /// within the poll when told to, and is ready when told to.
    #[derive(Default)]
    struct Probe {
        polls: usize,
        waker: Option<Waker>,
        wake_in_poll: bool,
        ready: bool,
    }

    impl Future for &mut Probe {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            self.waker = Some(cx.waker().clone());
            if std::mem::take(&mut self.wake_in_poll) {
                cx.waker().wake_by_ref();
            }
            if self.ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn the_future_is_polled_first_then_only_after_it_woke_the_task() {
        let task = Arc::new(Count::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut probe = Probe::default();
        {
            let mut gated = pin!(Gated::new(&mut probe));
            for _ in 0..5 {
                assert!(gated.as_mut().poll(&mut cx).is_pending());
            }
        }
        assert_eq!(probe.polls, 1, "polled on wake-ups that were not its own");

        let mut gated = pin!(Gated::new(&mut probe));
        assert!(gated.as_mut().poll(&mut cx).is_pending());
        let inner = gated.as_mut().project().future.waker.clone().unwrap();
        inner.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task was not woken");
        gated.as_mut().project().future.ready = true;
        assert!(gated.as_mut().poll(&mut cx).is_ready());
        assert_eq!(probe.polls, 3);
    }

    /// A future that wakes itself while being polled (tokio does that when a task is out of its
    /// cooperative budget) is polled again.
    #[test]
    fn a_wake_up_during_the_poll_is_kept() {
        let task = Arc::new(Count::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut probe = Probe {
            wake_in_poll: true,
            ..Probe::default()
        };
        let mut gated = pin!(Gated::new(&mut probe));
        assert!(gated.as_mut().poll(&mut cx).is_pending());
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert!(gated.as_mut().poll(&mut cx).is_pending());
        assert_eq!(gated.as_mut().project().future.polls, 2);
        assert!(gated.as_mut().poll(&mut cx).is_pending());
        assert_eq!(gated.as_mut().project().future.polls, 2);
    }

    /// A wake-up goes to the task's current waker, after the task moved.
    #[test]
    fn wake_ups_follow_the_task() {
        let first = Arc::new(Count::default());
        let second = Arc::new(Count::default());
        let mut probe = Probe::default();
        let mut gated = pin!(Gated::new(&mut probe));
        let waker = Waker::from(first.clone());
        assert!(
            gated
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let waker = Waker::from(second.clone());
        assert!(
            gated
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let inner = gated.as_mut().project().future.waker.clone().unwrap();
        inner.wake();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
