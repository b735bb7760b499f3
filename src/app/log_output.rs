//! Where log lines go: a buffer in memory, written to the real output by a thread of its
//! own every [`FLUSH_EVERY`].
//!
//! With a line per request, writing each line as it comes costs a system call on the
//! request's worker, and handing each line to a writer thread through a channel costs a
//! thread wake-up instead (measured: futex calls were 7 % of the app's CPU under load).
//! Appending to a buffer costs neither; the writer thread wakes on a timer and writes
//! whatever has gathered in one call.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How late a line may reach the output.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Past this much unwritten output, the thread that logs writes it out itself: memory
/// stays bounded and no line is dropped when the output is slower than the logging.
const MOST_BUFFERED: usize = 1 << 20;

struct Shared<W> {
    state: Mutex<State>,
    wake: Condvar,
    output: Mutex<W>,
}

#[derive(Default)]
struct State {
    buffer: Vec<u8>,
    stopping: bool,
}

impl<W: Write> Shared<W> {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a buffer that is still bytes.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out what has gathered; the lock on the buffer is not held while writing.
    fn flush(&self) {
        let pending = std::mem::take(&mut self.state().buffer);
        if pending.is_empty() {
            return;
        }
        let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        // Nowhere to report a failing log output: the lines are lost, the app goes on.
        let _ = output.write_all(&pending).and_then(|()| output.flush());
    }
}

/// The `MakeWriter` for `tracing_subscriber::fmt`; see the module's documentation.
pub struct BatchedOutput<W> {
    shared: Arc<Shared<W>>,
}

/// Writes out what is left and stops the writer thread when dropped: keep it alive as
/// long as the app logs.
#[must_use = "dropping the guard stops the log output"]
pub struct FlushOnDrop<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W: Write + Send + 'static> BatchedOutput<W> {
    /// Output written every `every` (the app uses [`FLUSH_EVERY`]).
    pub fn new(output: W, every: Duration) -> io::Result<(BatchedOutput<W>, FlushOnDrop<W>)> {
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new(), output: Mutex::new(output) });
        let flusher = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("log-output".into()).spawn(move || loop {
            let state = flusher.state();
            // Checks the flag first: a stop asked for before this wait must not wait `every`.
            let (state, _) = flusher
                .wake
                .wait_timeout_while(state, every, |state| !state.stopping)
                .unwrap_or_else(PoisonError::into_inner);
            let stopping = state.stopping;
            drop(state);
            flusher.flush();
            if stopping {
                break;
            }
        })?;
        Ok((BatchedOutput { shared: Arc::clone(&shared) }, FlushOnDrop { shared, thread: Some(thread) }))
    }
}

impl<W: Write> Drop for FlushOnDrop<W> {
    fn drop(&mut self) {
        self.shared.state().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Whatever was logged after the thread's last round.
        self.shared.flush();
    }
}

/// One event's bytes (`tracing_subscriber::fmt` formats a whole line, then writes it).
pub struct Line<'a, W: Write> {
    shared: &'a Shared<W>,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.state();
        state.buffer.extend_from_slice(bytes);
        let full = state.buffer.len() >= MOST_BUFFERED;
        drop(state);
        if full {
            self.shared.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchedOutput<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { shared: &self.shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer thread holds its own handle.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
        }
    }

    const NEVER: Duration = Duration::from_secs(3600);

    fn batched(every: Duration) -> (Captured, BatchedOutput<Captured>, FlushOnDrop<Captured>) {
        let captured = Captured::default();
        let (output, guard) = BatchedOutput::new(captured.clone(), every).unwrap_or_else(|e| panic!("{e}"));
        (captured, output, guard)
    }

    fn log(output: &BatchedOutput<Captured>, line: &str) {
        let written = output.make_writer().write_all(line.as_bytes());
        assert!(written.is_ok());
    }

    #[test]
    fn lines_reach_the_output_in_order_on_the_timer_alone() {
        let (captured, output, _guard) = batched(Duration::from_millis(20));
        log(&output, "one\n");
        log(&output, "two\n");
        // Nothing but the timer writes here (no drop, no full buffer); a busy machine may
        // delay the writer thread, hence a deadline rather than one interval.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while captured.text().len() < "one\ntwo\n".len() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(captured.text(), "one\ntwo\n");
    }

    #[test]
    fn dropping_the_guard_writes_out_what_is_left() {
        let (captured, output, guard) = batched(NEVER);
        log(&output, "last words\n");
        drop(guard);
        assert_eq!(captured.text(), "last words\n");
    }

    #[test]
    fn a_full_buffer_is_written_at_once_by_the_logging_thread() {
        let (captured, output, _guard) = batched(NEVER);
        let line = "x".repeat(1023) + "\n";
        for _ in 0..MOST_BUFFERED / line.len() - 1 {
            log(&output, &line);
        }
        assert_eq!(captured.text(), "", "written before the buffer filled");
        log(&output, &line);
        assert_eq!(captured.text().len(), MOST_BUFFERED, "not written when the buffer filled");
    }
}
