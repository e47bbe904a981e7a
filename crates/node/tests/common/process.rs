//! Real `neuronet` processes for the node's tests: spawned, their stdout lines on a channel,
//! killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The `neuronet` binary this package builds.
pub fn neuronet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_neuronet"))
}

/// A child process, killed when dropped, whose stdout lines arrive on a channel.
pub struct Process {
    pub child: Child,
    lines: Receiver<String>,
}

impl Process {
    pub fn spawn(name: &'static str, command: &mut Command) -> Process {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawning a process");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{name}: {line}");
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Process { child, lines }
    }

    /// The first line satisfying `wanted` within `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {limit:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the process ended before {what}"),
            }
        }
    }

    /// Forgets the lines printed so far: what is waited for next happens after this.
    pub fn skip_printed(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill {signal}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on both UDP (QUIC) and TCP (the HTTP wires), which share the number.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
