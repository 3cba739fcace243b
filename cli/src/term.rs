//! Lines on stdout and stderr that never tear the countdown line: a countdown is drawn
//! with `\r` on one line, erased before any other line is printed and redrawn by its
//! ticker afterwards.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Whether the stream is a terminal.
    pub fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

struct State {
    /// The stream a countdown line is drawn on, if one is on screen.
    drawn: Option<Stream>,
    /// The countdown allowed to draw (0: none).
    active: u64,
    next_id: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    drawn: None,
    active: 0,
    next_id: 1,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Prints one line (styles are kept on a colour terminal and stripped elsewhere or with
/// `NO_COLOR`).
pub fn line(stream: Stream, text: &str) {
    let mut st = state();
    erase(&mut st);
    let text = format!("{text}\n");
    // A closed pipe (`redial demo | head`) is not an error worth a panic.
    let _ = match stream {
        Stream::Stdout => anstream::stdout().write_all(text.as_bytes()),
        Stream::Stderr => anstream::stderr().write_all(text.as_bytes()),
    };
}

/// A new countdown takes the line over; returns its id.
pub fn countdown_begin() -> u64 {
    let mut st = state();
    erase(&mut st);
    let id = st.next_id;
    st.next_id += 1;
    st.active = id;
    id
}

/// Draws countdown `id`'s text, unless another countdown took over or it ended; returns
/// whether it is still the active one.
pub fn countdown_draw(id: u64, stream: Stream, text: &str) -> bool {
    let mut st = state();
    if st.active != id {
        return false;
    }
    raw(stream, &format!("\r\x1b[2K{text}"));
    st.drawn = Some(stream);
    true
}

/// Ends countdown `id` and erases its line (nothing if another one took over).
pub fn countdown_end(id: u64) {
    let mut st = state();
    if st.active == id {
        st.active = 0;
        erase(&mut st);
    }
}

fn erase(st: &mut State) {
    if let Some(stream) = st.drawn.take() {
        raw(stream, "\r\x1b[2K");
    }
}

/// Writes control sequences as they are (anstream would strip them with `NO_COLOR`).
fn raw(stream: Stream, text: &str) {
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}
