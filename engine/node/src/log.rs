//! Where an attempt's lines go. An attempt in its own process writes to its stdout, which
//! the executor made the attempt's log; an attempt on a thread of the build's process (a
//! light node run in-process) has its log set for that thread, so its lines land in its
//! log too instead of the build's terminal. Actions write through [`say!`](crate::say).

use std::cell::RefCell;
use std::io::Write;

thread_local! {
    static SINK: RefCell<Option<Box<dyn Write>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's attempt lines going to `log`.
pub fn with_log<R>(log: Box<dyn Write>, f: impl FnOnce() -> R) -> R {
    SINK.with(|s| *s.borrow_mut() = Some(log));
    let out = f();
    SINK.with(|s| {
        if let Some(mut w) = s.borrow_mut().take() {
            let _ = w.flush();
        }
    });
    out
}

/// Writes one line of the attempt's log.
pub fn line(args: std::fmt::Arguments<'_>) {
    let written = SINK.with(|s| match s.borrow_mut().as_mut() {
        Some(w) => {
            let _ = writeln!(w, "{args}");
            true
        }
        None => false,
    });
    if !written {
        println!("{args}");
    }
}

/// `println!` for an attempt: into its log, wherever the attempt runs.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_go_to_the_threads_log_while_it_is_set() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        with_log(Box::new(Shared(buf.clone())), || {
            crate::say!("passed: {} of {}", 8, 8);
        });
        assert_eq!(
            String::from_utf8(buf.lock().unwrap().clone()).unwrap(),
            "passed: 8 of 8\n"
        );
        let other = std::thread::spawn(|| SINK.with(|s| s.borrow().is_none()));
        assert!(other.join().unwrap(), "another thread has no log set");
    }
}
