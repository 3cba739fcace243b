//! State diagrams drawn from the core's transition table, so that they never disagree
//! with the code.
//!
//! [`mermaid`] and [`dot`] render [`TRANSITIONS`] as a Mermaid `stateDiagram-v2` and as a
//! Graphviz digraph: one edge per `(from, to)` pair, labelled with every trigger that
//! makes it, and the states grouped by [`Group`] (online, offline, fell back, the end).
//! [`state_note`] and [`trigger_note`] hold the prose of `docs/state-machine.md`, next to
//! the states and triggers they describe; `cargo run --example gen-docs` writes the docs.
//!
//! ```
//! let mermaid = redial::diagram::mermaid();
//! assert!(mermaid.starts_with("stateDiagram-v2"));
//! assert!(mermaid.contains("Connecting --> Open: dial_ok"));
//! assert!(redial::diagram::dot().contains("connecting -> open"));
//! ```

use std::fmt::Write as _;

use crate::core::{StateName, Trigger, TRANSITIONS};

/// How the states are grouped in the diagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// A WebSocket is being dialled, is open, or is closing: Connecting, Open, Closing.
    Online,
    /// No socket, waiting for demand, a delay or credentials: Idle, Backoff, Reauthenticating.
    Offline,
    /// Traffic goes over the fallback transport: FellBack.
    FellBack,
    /// The end: Stopped.
    End,
}

impl Group {
    /// Every group, in diagram order.
    pub const ALL: [Group; 4] = [Group::Offline, Group::Online, Group::FellBack, Group::End];

    /// The group a state belongs to.
    pub fn of(state: StateName) -> Group {
        match state {
            StateName::Connecting | StateName::Open | StateName::Closing => Group::Online,
            StateName::Idle | StateName::Backoff | StateName::Reauthenticating => Group::Offline,
            StateName::FellBack => Group::FellBack,
            StateName::Stopped => Group::End,
        }
    }

    /// The group's states, in [`StateName::ALL`] order.
    pub fn states(self) -> impl Iterator<Item = StateName> {
        StateName::ALL
            .into_iter()
            .filter(move |s| Group::of(*s) == self)
    }

    /// The title shown on the diagram ("online", "fell back", …).
    pub fn title(self) -> &'static str {
        match self {
            Group::Online => "online",
            Group::Offline => "offline",
            Group::FellBack => "fell back",
            Group::End => "the end",
        }
    }

    /// An identifier for the group (Mermaid class, Graphviz cluster).
    pub fn id(self) -> &'static str {
        match self {
            Group::Online => "online",
            Group::Offline => "offline",
            Group::FellBack => "fell_back",
            Group::End => "the_end",
        }
    }

    /// Fill and stroke colours of the group's states.
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Group::Online => ("#dcefdc", "#2e7d32"),
            Group::Offline => ("#fdf0d5", "#a86400"),
            Group::FellBack => ("#dde7fa", "#1f4fa3"),
            Group::End => ("#e6e6e6", "#444444"),
        }
    }

    /// The colour of the cluster's background in the Graphviz drawing.
    fn background(self) -> &'static str {
        match self {
            Group::Online => "#f3faf3",
            Group::Offline => "#fffaf0",
            Group::FellBack => "#f3f6fd",
            Group::End => "#f7f7f7",
        }
    }
}

/// What a state waits for, which timers run in it, and how it is left, for the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateNote {
    /// The state described.
    pub state: StateName,
    /// What the state is and what it waits for.
    pub waits_for: &'static str,
    /// The timers that run in the state (what `poll_timeout` returns there).
    pub timers: &'static str,
    /// How the state is left (the exits themselves are the rows of [`TRANSITIONS`]).
    pub left_by: &'static str,
}

/// The description of a state, shown in `docs/state-machine.md`.
pub fn state_note(state: StateName) -> StateNote {
    let (waits_for, timers, left_by) = match state {
        StateName::Idle => (
            "Not started, or no connection needed: the state before `Start`, and the state \
             after a *stable* connection ended with a close whose action is \
             `reconnect_lazily` (by default 1000). Waits for `Input::Start`.",
            "None: `poll_timeout` is `None`.",
            "`start` dials (Connecting), or goes straight to the fallback when the transport \
             is `https` (FellBack); `user_close` stops.",
        ),
        StateName::Connecting => (
            "A WebSocket dial is in flight; `Output::Dial` was emitted on entry and the dial \
             counts against `max_attempts`. Waits for `DialProgress(Handshake)` (TCP and TLS \
             are up), then `DialSucceeded` or `DialFailed`.",
            "The connect timeout (`timeouts.connect`: DNS, TCP, TLS), replaced by the \
             handshake timeout (`timeouts.handshake`) when the upgrade starts.",
            "`dial_ok` opens the WebSocket. `dial_failed` and `dial_timeout` ask the policy: \
             retry (Backoff), re-authenticate after a 401 (Reauthenticating), fall back \
             (FellBack) or stop (Stopped). `user_close` aborts the dial and stops.",
        ),
        StateName::Open => (
            "The WebSocket is open. Waits for server messages and pongs (which keep the \
             heartbeat quiet), a close frame, a drop, or the application's close. The \
             connection becomes *stable*, resetting the retry budget, the backoff and the \
             re-probe wait, after `min_uptime` or at the first server data message.",
            "The stability timer (`budget.min_uptime`) until the connection is stable; the \
             heartbeat: a ping after `heartbeat.ping_interval` of silence, then \
             `heartbeat.pong_timeout` for an answer.",
            "`recv_close`, `dropped` and `pong_timeout` ask the policy (drops and pong \
             timeouts as code 1006): retry (Backoff), re-authenticate (Reauthenticating; by \
             default after 3000/3003), fall back (FellBack), stop (Stopped), or wait for \
             demand when a stable connection ends with a `reconnect_lazily` close (Idle; by \
             default 1000). `user_close` sends a 1000 close frame (Closing); so does \
             `recycle`, which counts the connection as stable and dials again once closed.",
        ),
        StateName::Closing => (
            "The application closed, or recycles the connection: a close frame was sent. \
             Waits for the server's close frame or the end of the connection.",
            "The close grace (`timeouts.close_grace`).",
            "`closed` when the server answers or the connection ends; \
             `close_grace_elapsed` drops the connection. Both stop, or, when recycling, \
             dial the connection's replacement (Connecting; a `user_close` meanwhile \
             makes it a stop).",
        ),
        StateName::Backoff => (
            "No socket: waits for the retry delay the policy chose (the backoff, the \
             overload minimum, a draw from the restart window, or `Retry-After`).",
            "The retry delay.",
            "`backoff_elapsed` dials again (Connecting), counting against the budget; \
             `user_close` stops.",
        ),
        StateName::Reauthenticating => (
            "After a 401 or a 3000/3003 close: `Output::Reauthenticate` was emitted on entry. \
             Waits for the application's `ReauthDone { ok }`.",
            "None: the core waits as long as the application takes.",
            "`reauth_done` dials once more (Connecting); `reauth_failed` and `user_close` \
             stop. A second authorization failure in the same streak stops.",
        ),
        StateName::FellBack => (
            "Traffic goes over the fallback transport (`Output::StartFallback` on entry). \
             Waits for `FallbackReady`/`FallbackFailed`, and, once the re-probe timer \
             fires, for the outcome of one quiet WebSocket probe (`Dial { probe: true }`, \
             not counted against the budget). A probe that is upgraded is on trial: the \
             traffic stays on the fallback until its connection has been open for \
             `budget.min_uptime`; a close or a drop before that fails the probe (so a server \
             that accepts and at once closes takes no message). A failed probe stays here \
             and doubles the wait. \
             A fallback failure that is retried (network, timeout, 408, 429, 5xx) pauses the \
             fallback (`StopFallback`, a `FallbackFailed` event) for a backoff delay of its \
             own, then `StartFallback` again; a response (`FallbackReady`) resets the count.",
            "The re-probe timer (`fallback.reprobe_after`, doubled after each failed probe or \
             repeated fall-back up to `fallback.reprobe_max`; none when the transport is \
             `https` or `reprobe_after` is absent), then the probe's connect and handshake \
             timeouts, then its trial (`budget.min_uptime`); the pause after a fallback failure (the backoff, at least \
             `Retry-After` or the overload minimum).",
            "`probe_ok` switches back to the WebSocket once the probe's trial is over (Open, \
             the connection stable; `StopFallback`, a `Recovered` event); `fallback_failed` (not retried, or \
             `fallback.max_failures` in a row) and `user_close` stop.",
        ),
        StateName::Stopped => (
            "The end: closed by the application, or given up; the cause says which. Every \
             input is ignored and no output other than observer events is produced.",
            "None.",
            "Never: make a new core to start again.",
        ),
    };
    StateNote {
        state,
        waits_for,
        timers,
        left_by,
    }
}

/// What a trigger means in terms of the core's inputs, for the transition table.
pub fn trigger_note(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Start => "`Input::Start`: the application wants a connection.",
        Trigger::UserClose => "`Input::UserClose`: the application closes the client.",
        Trigger::DialOk => "`Input::DialSucceeded`: the upgrade was answered with 101.",
        Trigger::DialFailed => {
            "`Input::DialFailed`: DNS, TCP, TLS or an HTTP status other than 101."
        }
        Trigger::DialTimeout => "The connect or handshake timeout ran out.",
        Trigger::RecvClose => "`Input::PeerClosed`: the server sent a close frame.",
        Trigger::Dropped => "`Input::Dropped`: the connection ended without a close frame.",
        Trigger::PongTimeout => "No frame arrived within the pong timeout after a ping.",
        Trigger::BackoffElapsed => "The retry delay elapsed.",
        Trigger::ReauthDone => "`Input::ReauthDone { ok: true }`: fresh credentials.",
        Trigger::ReauthFailed => "`Input::ReauthDone { ok: false }`: no fresh credentials.",
        Trigger::Closed => {
            "`Input::PeerClosed` or `Input::Dropped` while closing: the close is complete."
        }
        Trigger::CloseGraceElapsed => "The server did not answer the close in time.",
        Trigger::FallbackFailed => "`Input::FallbackFailed`: the fallback transport failed.",
        Trigger::Recycle => {
            "`Input::Recycle`: the application wants a fresh connection (an abandoned \
             request's response did not end within `cancel_grace`)."
        }
        Trigger::ProbeOk => {
            "The quiet re-probe's trial ended (`budget.min_uptime` after its \
             `Input::DialSucceeded`, the connection still open): WebSockets are back."
        }
    }
}

/// The CamelCase title of a state, as in the diagrams ("FellBack").
pub fn state_title(state: StateName) -> String {
    format!("{state:?}")
}

/// One edge of a diagram: every row of [`TRANSITIONS`] from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The state left.
    pub from: StateName,
    /// The state entered.
    pub to: StateName,
    /// The triggers of those rows, in table order.
    pub triggers: Vec<Trigger>,
}

impl Edge {
    /// The triggers' names joined by `sep`.
    pub fn label(&self, sep: &str) -> String {
        let names: Vec<&str> = self.triggers.iter().map(|t| t.name()).collect();
        names.join(sep)
    }
}

/// The rows of [`TRANSITIONS`] merged by `(from, to)`, in the order they first appear.
pub fn edges() -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::new();
    for row in TRANSITIONS {
        match edges
            .iter_mut()
            .find(|e| e.from == row.from && e.to == row.to)
        {
            Some(edge) if !edge.triggers.contains(&row.trigger) => edge.triggers.push(row.trigger),
            Some(_) => {}
            None => edges.push(Edge {
                from: row.from,
                to: row.to,
                triggers: vec![row.trigger],
            }),
        }
    }
    edges
}

/// The ways out of `state`: each trigger with the states it may lead to, in table order.
pub fn exits(state: StateName) -> Vec<(Trigger, Vec<StateName>)> {
    let mut out: Vec<(Trigger, Vec<StateName>)> = Vec::new();
    for row in TRANSITIONS.iter().filter(|r| r.from == state) {
        match out.iter_mut().find(|(t, _)| *t == row.trigger) {
            Some((_, to)) => to.push(row.to),
            None => out.push((row.trigger, vec![row.to])),
        }
    }
    out
}

/// The ways into `state`: each state it may be entered from, with the triggers, in
/// table order.
pub fn entries(state: StateName) -> Vec<(StateName, Vec<Trigger>)> {
    let mut out: Vec<(StateName, Vec<Trigger>)> = Vec::new();
    for row in TRANSITIONS.iter().filter(|r| r.to == state) {
        match out.iter_mut().find(|(s, _)| *s == row.from) {
            Some((_, triggers)) => triggers.push(row.trigger),
            None => out.push((row.from, vec![row.trigger])),
        }
    }
    out
}

/// The transition table as a Mermaid `stateDiagram-v2`.
///
/// Mermaid cannot draw transitions between states nested in different composite states,
/// so the groups are colour classes (`classDef`, one per [`Group`]) rather than boxes.
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n    direction LR\n");
    for group in Group::ALL {
        let (fill, stroke) = group.colours();
        let _ = writeln!(
            out,
            "    classDef {} fill:{fill},stroke:{stroke},color:#111",
            group.id()
        );
    }
    let _ = writeln!(out, "    [*] --> {}", state_title(StateName::Idle));
    for edge in edges() {
        let _ = writeln!(
            out,
            "    {} --> {}: {}",
            state_title(edge.from),
            state_title(edge.to),
            edge.label(", ")
        );
    }
    let _ = writeln!(out, "    {} --> [*]", state_title(StateName::Stopped));
    for state in StateName::ALL {
        let _ = writeln!(
            out,
            "    class {} {}",
            state_title(state),
            Group::of(state).id()
        );
    }
    out
}

/// The transition table as a Graphviz digraph, one cluster per [`Group`].
///
/// Edges and their labels take the colour of the group they lead to, and labels sit on
/// a white box so that crossing edges do not hide them. Render it with `dot -Tsvg`;
/// `scripts/gen-docs` writes `docs/state-machine.svg`.
pub fn dot() -> String {
    const FONT: &str = "Helvetica";
    let mut out = String::from("digraph redial {\n");
    let _ = writeln!(
        out,
        "    graph [rankdir=LR, fontname=\"{FONT}\", fontsize=20, nodesep=0.35, ranksep=0.75, \
         newrank=true, pad=0.3, labelloc=t, label=\"redial core: states and transitions \
         (drawn from redial::core::TRANSITIONS)\"];"
    );
    let _ = writeln!(
        out,
        "    node [shape=box, style=\"rounded,filled\", fontname=\"{FONT}\", fontsize=18, \
         margin=\"0.2,0.1\", penwidth=1.5];"
    );
    let _ = writeln!(
        out,
        "    edge [fontname=\"{FONT}\", fontsize=14, arrowsize=0.8, penwidth=1.2];"
    );
    let _ = writeln!(
        out,
        "    start [shape=circle, label=\"\", width=0.2, style=filled, fillcolor=black];"
    );
    for group in Group::ALL {
        let (fill, stroke) = group.colours();
        let _ = writeln!(out, "    subgraph cluster_{} {{", group.id());
        let _ = writeln!(
            out,
            "        label=\"{}\"; labelloc={}; style=\"rounded,filled\"; fillcolor=\"{}\"; \
             color=\"{stroke}\"; fontcolor=\"{stroke}\";",
            group.title(),
            // Every edge into Stopped comes from above: keep its title clear of them.
            if group == Group::End {
                "b; labeljust=r; margin=14"
            } else {
                "t"
            },
            group.background()
        );
        for state in group.states() {
            let end = if Group::of(state) == Group::End {
                ", peripheries=2"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "        {} [label=\"{}\", fillcolor=\"{fill}\", color=\"{stroke}\"{end}];",
                state.name(),
                state_title(state)
            );
        }
        let _ = writeln!(out, "    }}");
    }
    let _ = writeln!(out, "    start -> {};", StateName::Idle.name());
    for edge in edges() {
        let (_, colour) = Group::of(edge.to).colours();
        let _ = writeln!(
            out,
            "    {} -> {} [color=\"{colour}\", fontcolor=\"{colour}\", label=<{}>];",
            edge.from.name(),
            edge.to.name(),
            dot_label(&edge)
        );
    }
    out.push_str("}\n");
    out
}

/// An HTML-like Graphviz label: one trigger per line on a white box.
fn dot_label(edge: &Edge) -> String {
    format!(
        "<table border=\"0\" cellborder=\"0\" cellpadding=\"1\" bgcolor=\"white\"><tr><td>{}</td></tr></table>",
        edge.label("<br/>")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(from, to, triggers)` of Mermaid transition lines.
    fn mermaid_edges(text: &str) -> Vec<(String, String, Vec<String>)> {
        text.lines()
            .filter_map(|line| {
                let (states, label) = line.trim().split_once(": ")?;
                let (from, to) = states.split_once(" --> ")?;
                let triggers = label.split(", ").map(str::to_string).collect();
                Some((from.to_string(), to.to_string(), triggers))
            })
            .collect()
    }

    /// The `(from, to, triggers)` of DOT edge lines with a label.
    fn dot_edges(text: &str) -> Vec<(String, String, Vec<String>)> {
        text.lines()
            .filter_map(|line| {
                let (states, rest) = line.trim().split_once(" [")?;
                let (from, to) = states.split_once(" -> ")?;
                let label = rest.split_once("<td>")?.1.split_once("</td>")?.0;
                let triggers = label.split("<br/>").map(str::to_string).collect();
                Some((from.to_string(), to.to_string(), triggers))
            })
            .collect()
    }

    fn has(edges: &[(String, String, Vec<String>)], from: &str, to: &str, trigger: &str) -> bool {
        edges
            .iter()
            .any(|(f, t, triggers)| f == from && t == to && triggers.iter().any(|x| x == trigger))
    }

    #[test]
    fn every_row_is_an_edge_of_the_mermaid_diagram() {
        let edges = mermaid_edges(&mermaid());
        for row in TRANSITIONS {
            let (from, to) = (state_title(row.from), state_title(row.to));
            assert!(
                has(&edges, &from, &to, row.trigger.name()),
                "missing {row:?}"
            );
        }
        let labels: usize = edges.iter().map(|(_, _, t)| t.len()).sum();
        assert_eq!(
            labels,
            TRANSITIONS.len(),
            "an edge label names a trigger twice or a row that does not exist"
        );
    }

    #[test]
    fn every_row_is_an_edge_of_the_dot_diagram() {
        let edges = dot_edges(&dot());
        for row in TRANSITIONS {
            assert!(
                has(&edges, row.from.name(), row.to.name(), row.trigger.name()),
                "missing {row:?}"
            );
        }
        let labels: usize = edges.iter().map(|(_, _, t)| t.len()).sum();
        assert_eq!(labels, TRANSITIONS.len());
    }

    #[test]
    fn every_state_appears_in_both_diagrams_in_its_group() {
        let (mermaid, dot) = (mermaid(), dot());
        for state in StateName::ALL {
            let group = Group::of(state);
            let title = state_title(state);
            let class_line = format!("    class {title} {}", group.id());
            assert!(
                mermaid.lines().any(|l| l == class_line),
                "no `{class_line}`"
            );
            assert!(
                dot.contains(&format!("{} [label=\"{title}\"", state.name())),
                "{title} not a DOT node"
            );
            let cluster = dot
                .split(&format!("subgraph cluster_{} {{", group.id()))
                .nth(1)
                .and_then(|rest| rest.split("    }").next())
                .unwrap_or_else(|| panic!("no cluster for {group:?}"));
            assert!(
                cluster.contains(&format!("{} [label=", state.name())),
                "{title} not in its cluster"
            );
        }
    }

    #[test]
    fn groups_partition_the_states() {
        let grouped: usize = Group::ALL.iter().map(|g| g.states().count()).sum();
        assert_eq!(grouped, StateName::ALL.len());
        assert_eq!(
            Group::Online.states().collect::<Vec<_>>(),
            [StateName::Connecting, StateName::Open, StateName::Closing]
        );
    }

    #[test]
    fn edges_merge_rows_with_the_same_ends() {
        let edges = edges();
        let rows: usize = edges.iter().map(|e| e.triggers.len()).sum();
        assert_eq!(rows, TRANSITIONS.len());
        for (i, a) in edges.iter().enumerate() {
            assert!(edges[i + 1..]
                .iter()
                .all(|b| (a.from, a.to) != (b.from, b.to)));
        }
    }

    #[test]
    fn exits_and_entries_cover_every_row_once() {
        let states = StateName::ALL.iter().copied();
        let out: usize = states.clone().flat_map(exits).map(|(_, to)| to.len()).sum();
        let into: usize = states.flat_map(entries).map(|(_, t)| t.len()).sum();
        assert_eq!((out, into), (TRANSITIONS.len(), TRANSITIONS.len()));
        assert!(exits(StateName::Stopped).is_empty());
        assert!(entries(StateName::Stopped)
            .iter()
            .all(|(from, _)| *from != StateName::Stopped));
    }

    #[test]
    fn every_state_and_trigger_is_described() {
        for state in StateName::ALL {
            let note = state_note(state);
            assert_eq!(note.state, state);
            assert!(
                !note.waits_for.is_empty() && !note.timers.is_empty() && !note.left_by.is_empty()
            );
        }
        for row in TRANSITIONS {
            assert!(!trigger_note(row.trigger).is_empty());
        }
    }
}
